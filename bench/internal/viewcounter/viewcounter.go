// Package viewcounter is what the benchmark's Go apps share, so that they
// differ only in how they keep sessions: the common flags, the routes, the
// server and the plain-text answers.
package viewcounter

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

// Flags registers -addr and -redis (defaults from BENCH_ADDR and
// REDIS_ADDR); call flag.Parse afterwards.
func Flags() (addr, redisAddr *string) {
	addr = flag.String("addr", envOr("BENCH_ADDR", "127.0.0.1:8080"), "listen address (env BENCH_ADDR)")
	redisAddr = flag.String("redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis host:port (env REDIS_ADDR)")
	return addr, redisAddr
}

// PGFlag registers -pg (default from PG_URL): a PostgreSQL URL which, when
// set, makes the app keep its sessions in PostgreSQL instead of Redis.
func PGFlag() *string {
	return flag.String("pg", os.Getenv("PG_URL"), "PostgreSQL URL (env PG_URL): keep sessions in PostgreSQL instead of Redis")
}

// Backend names where the app keeps its sessions, for the log line:
// "postgres" when pgURL is set, else "redis ADDR".
func Backend(redisAddr, pgURL string) string {
	if pgURL != "" {
		return "postgres"
	}
	return "redis " + redisAddr
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// App is the view counter's routes.
type App interface {
	Index(http.ResponseWriter, *http.Request)  // GET /: increment, "Number of views: N"
	Read(http.ResponseWriter, *http.Request)   // GET /read: the count, changing nothing
	Login(http.ResponseWriter, *http.Request)  // /login?user=U: new session ID, user bound
	Logout(http.ResponseWriter, *http.Request) // /logout
	Whoami(http.ResponseWriter, *http.Request) // /whoami: the user, or 401
}

// Serve answers app's routes on addr, through wrap (the session
// middleware, if the library has one), until the server fails. backend
// says where the sessions are kept, for the log.
func Serve(name, addr, backend string, app App, wrap func(http.Handler) http.Handler) {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", app.Index)
	mux.HandleFunc("/read", app.Read)
	mux.HandleFunc("/login", app.Login)
	mux.HandleFunc("/logout", app.Logout)
	mux.HandleFunc("/whoami", app.Whoami)
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("%s listening on %s (%s)", name, addr, backend)
	log.Fatal(srv.ListenAndServe())
}

// Text answers in plain text.
func Text(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, format, args...)
}
