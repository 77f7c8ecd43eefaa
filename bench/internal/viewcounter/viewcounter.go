// Package viewcounter is what the benchmark's Go apps share, so that they
// differ only in how they keep sessions: the common flags, the routes, the
// server and the plain-text answers.
package viewcounter

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// Flags registers -addr and -redis (defaults from BENCH_ADDR and
// REDIS_ADDR); call flag.Parse afterwards.
func Flags() (addr, redisAddr *string) {
	addr = flag.String("addr", envOr("BENCH_ADDR", "127.0.0.1:8080"), "listen address (env BENCH_ADDR)")
	redisAddr = flag.String("redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis host:port (env REDIS_ADDR)")
	return addr, redisAddr
}

// MemoryFlags registers the flags of the memory backend: -memory (keep
// sessions in the process: the library's in-memory store), -ttl (how long
// a session lives; 0: the library's default) and -sweep (how often the
// store reclaims expired sessions; 0: the store's default). The runner
// sets -ttl and -sweep for the sweep-pause measurement only.
func MemoryFlags() (memory *bool, ttl, sweep *time.Duration) {
	memory = flag.Bool("memory", false, "keep sessions in this process (the library's in-memory store) instead of Redis")
	ttl = flag.Duration("ttl", 0, "session lifetime with -memory (0: the library's default)")
	sweep = flag.Duration("sweep", 0, "interval of the in-memory store's sweep of expired sessions (0: the store's default)")
	return memory, ttl, sweep
}

// PGFlag registers -pg (default from PG_URL): a PostgreSQL URL which, when
// set, makes the app keep its sessions in PostgreSQL instead of Redis.
func PGFlag() *string {
	return flag.String("pg", os.Getenv("PG_URL"), "PostgreSQL URL (env PG_URL): keep sessions in PostgreSQL instead of Redis")
}

// Backend names where the app keeps its sessions, for the log line:
// "memory" with -memory, "postgres" when pgURL is set, else "redis ADDR".
func Backend(redisAddr, pgURL string, memory bool) string {
	if memory {
		return "memory"
	}
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

// debug holds the /debug/ routes: /debug/heap, and what an app adds with
// Debug. They are answered outside the session middleware, and only to
// loopback clients.
var debug = http.NewServeMux()

func init() {
	debug.HandleFunc("/debug/heap", heap)
}

// Debug adds a route under /debug/ (before Serve).
func Debug(pattern string, h http.Handler) { debug.Handle(pattern, h) }

// heap answers the Go heap in use after a full collection
// (runtime.MemStats.HeapAlloc, in bytes) as a decimal number: what the
// live objects take, sessions included when the store keeps them in the
// process.
func heap(w http.ResponseWriter, r *http.Request) {
	runtime.GC()
	runtime.GC() // objects kept by a finalizer or cleanup of the first cycle
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	Text(w, "%d\n", ms.HeapAlloc)
}

// loopbackOnly answers 403 to a client that is not on this machine.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Serve answers app's routes on addr, through wrap (the session
// middleware, if the library has one), until the server fails. backend
// says where the sessions are kept, for the log. /debug/ (heap, and the
// routes added with Debug) is answered to loopback clients, without the
// middleware.
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
	dbg := loopbackOnly(debug)
	top := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/debug/") {
			dbg.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: addr, Handler: top, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("%s listening on %s (%s)", name, addr, backend)
	log.Fatal(srv.ListenAndServe())
}

// Text answers in plain text.
func Text(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, format, args...)
}
