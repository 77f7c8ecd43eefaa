package storetest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

// Server serves app through an HTTP framework and returns the server's
// base URL ("http://127.0.0.1:port"), stopping it when t ends. A framework
// adapter's tests pass one to RunHTTP: it installs the adapter's middleware
// for app.Manager and routes app's handlers with the framework's own router
// and server, each one at the method and path its doc comment names.
type Server func(t *testing.T, app *App) (baseURL string)

// App is the view-counter application the suite's HTTP cases send their
// requests to, written against a *seshat.Session only, so that any HTTP
// framework can route it. Each handler returns the status and body to
// answer with; a framework's route takes the request's session (and form
// values, from the query or the body) and answers that.
type App struct {
	// Manager gives the requests their sessions.
	Manager *seshat.Manager
	// MaxBodyBytes is Manager's Options.MaxBodyBytes, which its net/http
	// middleware enforces; a framework that reads request bodies before any
	// middleware runs (fasthttp) sets its own limit to this.
	MaxBodyBytes int64

	release     chan struct{} // lets /stream finish
	releaseOnce sync.Once
}

// Handler is the app routed with net/http's ServeMux behind the manager's
// middleware: what RunHTTP serves when given no Server. It is also the
// model of a framework's routes.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter) func(int, string) {
		return func(code int, body string) {
			if code != http.StatusOK {
				http.Error(w, body, code)
				return
			}
			io.WriteString(w, body)
		}
	}
	form := func(w http.ResponseWriter, r *http.Request) bool {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), seshat.StatusCode(err))
			return false
		}
		return true
	}
	m := a.Manager
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { answer(w)(a.View(m.Session(r))) })
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) { answer(w)(a.Read(m.Session(r))) })
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		if form(w, r) {
			answer(w)(a.Set(m.Session(r), r.Form.Get("k"), r.Form.Get("v")))
		}
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if form(w, r) {
			answer(w)(a.Login(m.Session(r), r.Form.Get("user")))
		}
	})
	mux.HandleFunc("POST /flash", func(w http.ResponseWriter, r *http.Request) {
		if form(w, r) {
			answer(w)(a.Flash(m.Session(r), r.Form.Get("k"), r.Form.Get("v")))
		}
	})
	mux.HandleFunc("GET /pop", func(w http.ResponseWriter, r *http.Request) { answer(w)(a.Pop(m.Session(r), r.URL.Query().Get("k"))) })
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) { answer(w)(a.Logout(m.Session(r))) })
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		code, body := a.Stream(m.Session(r))
		w.WriteHeader(code)
		body(w, http.NewResponseController(w).Flush)
	})
	return m.Handler(mux)
}

func failed(err error) (int, string) { return seshat.StatusCode(err), err.Error() }

// View serves GET /: it increments "views" and answers the new count.
func (a *App) View(s *seshat.Session) (int, string) {
	n, err := s.Incr("views", 1)
	if err != nil {
		return failed(err)
	}
	return http.StatusOK, fmt.Sprint(n)
}

// Read serves GET /read: it answers the count, changing nothing.
func (a *App) Read(s *seshat.Session) (int, string) {
	n, err := seshat.Get[int](s, "views")
	if err != nil && !errors.Is(err, seshat.ErrNoValue) {
		return failed(err)
	}
	return http.StatusOK, fmt.Sprint(n)
}

// Set serves POST /set with form values k and v: it sets k to v.
func (a *App) Set(s *seshat.Session, k, v string) (int, string) {
	if err := s.Set(k, v); err != nil {
		return failed(err)
	}
	return http.StatusOK, ""
}

// Login serves POST /login with form value user: it regenerates the
// session and binds it to user.
func (a *App) Login(s *seshat.Session, user string) (int, string) {
	if err := s.Regenerate(); err != nil {
		return failed(err)
	}
	if err := s.SetUser(user); err != nil {
		return failed(err)
	}
	return http.StatusOK, ""
}

// Flash serves POST /flash with form values k and v: it flashes v under
// k. (Run's cases use it; RunHTTP's do not, so a framework need not
// route it.)
func (a *App) Flash(s *seshat.Session, k, v string) (int, string) {
	if err := s.Flash(k, v); err != nil {
		return failed(err)
	}
	return http.StatusOK, ""
}

// Pop serves GET /pop with query value k: it pops the flash under k and
// answers it, or 404 when there is none. (Run's cases only, like Flash.)
func (a *App) Pop(s *seshat.Session, k string) (int, string) {
	v, err := seshat.Pop[string](s, k)
	switch {
	case errors.Is(err, seshat.ErrNoValue):
		return http.StatusNotFound, "no flash"
	case err != nil:
		return failed(err)
	}
	return http.StatusOK, v
}

// Logout serves POST /logout: it destroys the session.
func (a *App) Logout(s *seshat.Session) (int, string) {
	if err := s.Destroy(); err != nil {
		return failed(err)
	}
	return http.StatusOK, ""
}

// Stream serves GET /stream: it sets "streamed" to "yes" and answers
// status and a streamed body. The route sends the status, then calls
// body with the response body and a function that flushes what was
// written to the client; body writes a first line, flushes it, and waits
// for the test (which meanwhile checks that the change was committed
// before this first byte) to let it write the rest.
func (a *App) Stream(s *seshat.Session) (status int, body func(w io.Writer, flush func() error)) {
	if err := s.Set("streamed", "yes"); err != nil {
		code, msg := failed(err)
		return code, func(w io.Writer, _ func() error) { io.WriteString(w, msg) }
	}
	return http.StatusOK, func(w io.Writer, flush func() error) {
		io.WriteString(w, "first\n")
		if err := flush(); err != nil {
			return
		}
		<-a.release
		io.WriteString(w, "rest\n")
	}
}

// finishStreams lets every /stream response finish.
func (a *App) finishStreams() { a.releaseOnce.Do(func() { close(a.release) }) }

// RunHTTP runs the suite's HTTP cases on a fresh store from newStore for
// each, with the app served by serve (net/http's ServeMux behind the
// manager's middleware when nil): parallel increments are exact, parallel
// changes all kept, a logout is final, regenerate, a read-only request's
// one store call, forged cookies never reaching the store, the size limits
// of a session and a request body, and a streamed response committing
// before its first byte. A framework adapter proves itself with it.
func RunHTTP(t *testing.T, newStore func(t *testing.T) store.Store, serve Server) {
	t.Helper()
	run(t, httpGuarantees(), newStore, serve)
}
