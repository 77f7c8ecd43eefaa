// Command scs is the benchmark's view counter on github.com/alexedwards/scs/v2
// with its go-redis store: the default SessionManager configuration and the
// LoadAndSave middleware. With -pg URL the store is scs's pgxstore on
// PostgreSQL instead (a pgxpool with pgx's default size), its table created
// as pgxstore's README gives it. With -memory it is scs's memstore, in the
// process (memstore.New, or NewWithCleanupInterval with -sweep; -ttl sets
// the SessionManager's Lifetime).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"strings"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	pgURL := viewcounter.PGFlag()
	memory, ttl, sweep := viewcounter.MemoryFlags()
	flag.Parse()

	sm := scs.New()
	switch {
	case *memory:
		if *sweep > 0 {
			sm.Store = memstore.NewWithCleanupInterval(*sweep)
		} else {
			sm.Store = memstore.New()
		}
		if *ttl > 0 {
			sm.Lifetime = *ttl
		}
	case *pgURL != "":
		sm.Store = pgxstore.New(pgPool(*pgURL))
	default:
		sm.Store = goredisstore.New(redis.NewClient(&redis.Options{Addr: *redisAddr}))
	}
	a := &app{sm: sm}
	viewcounter.Serve("scs", *addr, viewcounter.Backend(*redisAddr, *pgURL, *memory), a, sm.LoadAndSave)
}

// pgxstoreSchema is the table pgxstore's README asks for.
const pgxstoreSchema = `CREATE TABLE IF NOT EXISTS sessions (
	token TEXT PRIMARY KEY,
	data BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);`

// pgPool connects to PostgreSQL and creates pgxstore's table.
func pgPool(url string) *pgxpool.Pool {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pool.Exec(ctx, pgxstoreSchema); err != nil {
		log.Fatal(err)
	}
	return pool
}

type app struct{ sm *scs.SessionManager }

// Index is the classic read-modify-write: the whole session is saved by
// LoadAndSave after the handler.
func (a *app) Index(w http.ResponseWriter, r *http.Request) {
	n := a.sm.GetInt(r.Context(), "views") + 1
	a.sm.Put(r.Context(), "views", n)
	viewcounter.Text(w, "Number of views: %d\n", n)
}

func (a *app) Read(w http.ResponseWriter, r *http.Request) {
	viewcounter.Text(w, "Number of views: %d\n", a.sm.GetInt(r.Context(), "views"))
}

func (a *app) Login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("user"))
	if user == "" || len(user) > 128 {
		http.Error(w, "user is required (at most 128 bytes)", http.StatusBadRequest)
		return
	}
	if err := a.sm.RenewToken(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.sm.Put(r.Context(), "user", user)
	viewcounter.Text(w, "Logged in as %s\n", user)
}

func (a *app) Logout(w http.ResponseWriter, r *http.Request) {
	if err := a.sm.Destroy(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	viewcounter.Text(w, "Logged out\n")
}

func (a *app) Whoami(w http.ResponseWriter, r *http.Request) {
	user := a.sm.GetString(r.Context(), "user")
	if user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	viewcounter.Text(w, "%s\n", user)
}
