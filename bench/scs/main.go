// Command scs is the benchmark's view counter on github.com/alexedwards/scs/v2
// with its go-redis store: the default SessionManager configuration and the
// LoadAndSave middleware.
package main

import (
	"flag"
	"net/http"
	"strings"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/bench/internal/viewcounter"
)

func main() {
	addr, redisAddr := viewcounter.Flags()
	flag.Parse()

	sm := scs.New()
	sm.Store = goredisstore.New(redis.NewClient(&redis.Options{Addr: *redisAddr}))
	a := &app{sm: sm}
	viewcounter.Serve("scs", *addr, *redisAddr, a, sm.LoadAndSave)
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
