package pgstore_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/pgstore"
)

// A manager on PostgreSQL: Open migrates the schema (safe when several
// instances start at once) and starts the sweeper.
func ExampleOpen() {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"), pgstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte(os.Getenv("SESHAT_SECRET"))}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.Session(r).Incr("views", 1)
		if err != nil {
			http.Error(w, err.Error(), seshat.StatusCode(err))
			return
		}
		log.Printf("views: %d", n)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:3000", m.Handler(mux)))
}

// Migrating ahead of a deployment, as `seshat migrate --store URL` does.
func ExampleMigrate() {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"), pgstore.Options{SweepEvery: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	version, err := pgstore.Migrate(ctx, st.Pool())
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("schema version %d", version)
}
