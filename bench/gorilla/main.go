// Command gorilla is the benchmark's view counter on
// github.com/gorilla/sessions with github.com/boj/redistore (a redigo
// pool): default store options, the gob serializer.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/boj/redistore"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

const (
	sessionName = "session"
	keyPrefix   = "session_" // redistore's default, set explicitly for login
)

func main() {
	addr := flag.String("addr", envOr("BENCH_ADDR", "127.0.0.1:8080"), "listen address (env BENCH_ADDR)")
	redisAddr := flag.String("redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis host:port (env REDIS_ADDR)")
	secret := flag.String("secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret")
	flag.Parse()

	st, err := redistore.NewRediStore(10, "tcp", *redisAddr, "", "", []byte(*secret))
	if err != nil {
		log.Fatal(err)
	}
	st.SetKeyPrefix(keyPrefix)
	a := &app{st: st}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", a.index)
	mux.HandleFunc("/read", a.read)
	mux.HandleFunc("/login", a.login)
	mux.HandleFunc("/logout", a.logout)
	mux.HandleFunc("/whoami", a.whoami)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("gorilla listening on %s (redis %s)", *addr, *redisAddr)
	log.Fatal(srv.ListenAndServe())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type app struct{ st *redistore.RediStore }

func text(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, format, args...)
}

func fail(w http.ResponseWriter, err error) {
	http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
}

// session loads the request's session. A cookie that does not decode
// gives a new session (gorilla's documented behaviour); a Redis error is
// an error.
func (a *app) session(r *http.Request) (*sessions.Session, error) {
	s, err := a.st.Get(r, sessionName)
	if err != nil {
		if _, cookieErr := err.(securecookie.Error); !cookieErr || s == nil {
			return nil, err
		}
	}
	return s, nil
}

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	s, err := a.session(r)
	if err != nil {
		fail(w, err)
		return
	}
	n, _ := s.Values["views"].(int)
	n++
	s.Values["views"] = n
	if err := s.Save(r, w); err != nil {
		fail(w, err)
		return
	}
	text(w, "Number of views: %d\n", n)
}

func (a *app) read(w http.ResponseWriter, r *http.Request) {
	s, err := a.session(r)
	if err != nil {
		fail(w, err)
		return
	}
	n, _ := s.Values["views"].(int)
	text(w, "Number of views: %d\n", n)
}

// login: gorilla has no regenerate; delete the old record and save the
// values under a fresh ID.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("user"))
	if user == "" || len(user) > 128 {
		http.Error(w, "user is required (at most 128 bytes)", http.StatusBadRequest)
		return
	}
	s, err := a.session(r)
	if err != nil {
		fail(w, err)
		return
	}
	if s.ID != "" {
		c := a.st.Pool.Get()
		_, err := c.Do("DEL", keyPrefix+s.ID)
		c.Close()
		if err != nil {
			fail(w, err)
			return
		}
		s.ID = ""
	}
	s.Values["user"] = user
	if err := s.Save(r, w); err != nil {
		fail(w, err)
		return
	}
	text(w, "Logged in as %s\n", user)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s, err := a.session(r)
	if err != nil {
		fail(w, err)
		return
	}
	s.Options.MaxAge = -1
	if err := s.Save(r, w); err != nil {
		fail(w, err)
		return
	}
	text(w, "Logged out\n")
}

func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	s, err := a.session(r)
	if err != nil {
		fail(w, err)
		return
	}
	user, _ := s.Values["user"].(string)
	if user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	text(w, "%s\n", user)
}
