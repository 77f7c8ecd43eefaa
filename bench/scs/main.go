// Command scs is the benchmark's view counter on github.com/alexedwards/scs/v2
// with its go-redis store: the default SessionManager configuration and the
// LoadAndSave middleware.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", envOr("BENCH_ADDR", "127.0.0.1:8080"), "listen address (env BENCH_ADDR)")
	redisAddr := flag.String("redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis host:port (env REDIS_ADDR)")
	flag.Parse()

	sm := scs.New()
	sm.Store = goredisstore.New(redis.NewClient(&redis.Options{Addr: *redisAddr}))
	a := &app{sm: sm}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", a.index)
	mux.HandleFunc("/read", a.read)
	mux.HandleFunc("/login", a.login)
	mux.HandleFunc("/logout", a.logout)
	mux.HandleFunc("/whoami", a.whoami)
	srv := &http.Server{Addr: *addr, Handler: sm.LoadAndSave(mux), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("scs listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(srv.ListenAndServe())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type app struct{ sm *scs.SessionManager }

func text(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, format, args...)
}

// index is the classic read-modify-write: the whole session is saved by
// LoadAndSave after the handler.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	n := a.sm.GetInt(r.Context(), "views") + 1
	a.sm.Put(r.Context(), "views", n)
	text(w, "Number of views: %d\n", n)
}

func (a *app) read(w http.ResponseWriter, r *http.Request) {
	text(w, "Number of views: %d\n", a.sm.GetInt(r.Context(), "views"))
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
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
	text(w, "Logged in as %s\n", user)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.sm.Destroy(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	text(w, "Logged out\n")
}

func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	user := a.sm.GetString(r.Context(), "user")
	if user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	text(w, "%s\n", user)
}
