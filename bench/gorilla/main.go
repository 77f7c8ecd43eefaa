// Command gorilla is the benchmark's view counter on
// github.com/gorilla/sessions with github.com/boj/redistore (a redigo
// pool): default store options, the gob serializer. With -memory it is
// gorilla's CookieStore instead: no server store, the session's values
// travel in the cookie (signed, not encrypted), so nothing is kept on the
// server and a logout cannot revoke a copied cookie.
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"

	"github.com/boj/redistore"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

const (
	sessionName = "session"
	keyPrefix   = "session_" // redistore's default, set explicitly for login
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	secret := flag.String("secret", "bench-secret-bench-secret-bench-secret", "cookie signing secret")
	memory, _, _ := viewcounter.MemoryFlags() // -ttl, -sweep: nothing to sweep
	flag.Parse()

	if *memory {
		a := &app{st: sessions.NewCookieStore([]byte(*secret))}
		viewcounter.Serve("gorilla", *addr, "cookie store, no server store", a, nil)
		return
	}
	rs, err := redistore.NewRediStore(10, "tcp", *redisAddr, "", "", []byte(*secret))
	if err != nil {
		log.Fatal(err)
	}
	rs.SetKeyPrefix(keyPrefix)
	a := &app{st: rs, redis: rs}
	viewcounter.Serve("gorilla", *addr, "redis "+*redisAddr, a, nil)
}

// app keeps sessions in st: redistore (redis is then the same store), or
// the cookie store (redis nil).
type app struct {
	st    sessions.Store
	redis *redistore.RediStore
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

func (a *app) Index(w http.ResponseWriter, r *http.Request) {
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
	viewcounter.Text(w, "Number of views: %d\n", n)
}

func (a *app) Read(w http.ResponseWriter, r *http.Request) {
	s, err := a.session(r)
	if err != nil {
		fail(w, err)
		return
	}
	n, _ := s.Values["views"].(int)
	viewcounter.Text(w, "Number of views: %d\n", n)
}

// Login: gorilla has no regenerate; delete the old record and save the
// values under a fresh ID. (The cookie store has no record, and no ID: the
// new cookie is the new session.)
func (a *app) Login(w http.ResponseWriter, r *http.Request) {
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
	if s.ID != "" && a.redis != nil {
		c := a.redis.Pool.Get()
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
	viewcounter.Text(w, "Logged in as %s\n", user)
}

func (a *app) Logout(w http.ResponseWriter, r *http.Request) {
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
	viewcounter.Text(w, "Logged out\n")
}

func (a *app) Whoami(w http.ResponseWriter, r *http.Request) {
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
	viewcounter.Text(w, "%s\n", user)
}
