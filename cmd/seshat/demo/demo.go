// Package demo is the application behind `seshat serve`: the classic
// express-session view counter, with login, logout and a size-limited note,
// answering text/plain to scripts and HTML to browsers.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/seshat-go/seshat"
)

// Config wires the demo.
type Config struct {
	// Manager runs the sessions.
	Manager *seshat.Manager
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Health checks the store for /healthz; nil is always healthy.
	Health func(context.Context) error
	// MaxSessionBytes is shown next to the note form (0: not shown).
	MaxSessionBytes int
	// MaxFormBytes caps the body of a form post (login, note), whatever
	// the manager's Options.MaxBodyBytes: a larger one is answered 413 and
	// changes nothing. Default: 1 MiB.
	MaxFormBytes int64
}

// DefaultMaxFormBytes is Config.MaxFormBytes when it is zero.
const DefaultMaxFormBytes = 1 << 20

// Handler returns the demo application with the session middleware
// installed.
func Handler(cfg Config) http.Handler {
	a := &app{m: cfg.Manager, health: cfg.Health, limit: cfg.MaxSessionBytes, maxForm: cfg.MaxFormBytes}
	if a.maxForm <= 0 {
		a.maxForm = DefaultMaxFormBytes
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("GET /read", a.read)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /whoami", a.whoami)
	mux.HandleFunc("POST /note", a.note)
	mux.HandleFunc("GET /sessions", a.sessions)
	mux.HandleFunc("POST /sessions/logout-others", a.logoutOthers)
	mux.HandleFunc("GET /healthz", a.healthz)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	return cfg.Manager.Handler(mux)
}

type app struct {
	m       *seshat.Manager
	health  func(context.Context) error
	limit   int
	maxForm int64
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func fail(w http.ResponseWriter, err error) {
	code := seshat.StatusCode(err)
	http.Error(w, http.StatusText(code)+": "+err.Error(), code)
}

// done answers a form post: a redirect for browsers, a line of text for
// scripts.
func done(w http.ResponseWriter, r *http.Request, to, format string, args ...any) {
	if wantsHTML(r) {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	text(w, format, args...)
}

func text(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, format, args...)
}

// index increments the view counter atomically.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	s := a.m.Session(r)
	n, err := s.Incr("views", 1)
	if err != nil {
		fail(w, err)
		return
	}
	if wantsHTML(r) {
		a.page(w, r, n)
		return
	}
	text(w, "Number of views: %d\n", n)
}

// read answers the count without changing anything.
func (a *app) read(w http.ResponseWriter, r *http.Request) {
	n, err := seshat.Get[int64](a.m.Session(r), "views")
	if err != nil && !errors.Is(err, seshat.ErrNoValue) {
		fail(w, err)
		return
	}
	text(w, "Number of views: %d\n", n)
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	form, ok := a.form(w, r)
	if !ok {
		return
	}
	user := strings.TrimSpace(form.Get("user"))
	if user == "" || len(user) > maxUserBytes {
		http.Error(w, fmt.Sprintf("form field user is required (at most %d bytes)", maxUserBytes), http.StatusBadRequest)
		return
	}
	if !validUser(user) {
		http.Error(w, "form field user must be UTF-8 text without control characters (no ESC, CR, LF, NUL, tab, DEL, C1 controls or bidirectional overrides)", http.StatusBadRequest)
		return
	}
	s := a.m.Session(r)
	// A new ID at every privilege change: a planted or leaked ID is useless.
	if err := s.Regenerate(); err != nil {
		if errors.Is(err, seshat.ErrMoved) && wantsHTML(r) {
			// A double-submitted form: the other submission logged in,
			// and its answer carries the new cookie. Show the page.
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		fail(w, err)
		return
	}
	if err := s.SetUser(user); err != nil {
		fail(w, err)
		return
	}
	done(w, r, "/", "Logged in as %s\n", user)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.m.Session(r).Destroy(); err != nil {
		fail(w, err)
		return
	}
	done(w, r, "/", "Logged out\n")
}

// currentUser is the session's user; tampered data, or an ID that a login
// just replaced, is not logged in.
func currentUser(s *seshat.Session) (string, error) {
	user, err := s.User()
	if errors.Is(err, seshat.ErrDecode) || errors.Is(err, seshat.ErrMoved) {
		return "", nil
	}
	return user, err
}

func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	user, err := currentUser(a.m.Session(r))
	if err != nil {
		fail(w, err)
		return
	}
	if user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	text(w, "%s\n", user)
}

// note stores a text in the session; 413 when it would exceed the size
// limit, with the session unchanged.
func (a *app) note(w http.ResponseWriter, r *http.Request) {
	form, ok := a.form(w, r)
	if !ok {
		return
	}
	text, ok := form["text"]
	if !ok {
		http.Error(w, "form field text is required (it may be empty, to clear the note)", http.StatusBadRequest)
		return
	}
	s := a.m.Session(r)
	// A request that only writes does not read the session first, so the
	// store may refuse a note too large at the commit: ErrorHandler then
	// answers, with the same page.
	if err := s.Set("note", text[0]); err != nil {
		ErrorHandler(a.limit)(w, r, err)
		return
	}
	done(w, r, "/", "Saved\n")
}

// ErrorHandler is the demo's seshat.Options.ErrorHandler: a browser whose
// change would take the session over the size limit (limit, 0 if unknown)
// gets a page that says so; everything else gets seshat's default answer.
func ErrorHandler(limit int) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if wantsHTML(r) && errors.Is(err, seshat.ErrTooLarge) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			errorTmpl.Execute(w, limit)
			return
		}
		seshat.DefaultErrorHandler(w, r, err)
	}
}

// sessions lists the logged-in user's sessions: HTML for browsers, JSON
// for scripts.
func (a *app) sessions(w http.ResponseWriter, r *http.Request) {
	s := a.m.Session(r)
	user, err := currentUser(s)
	if err != nil {
		fail(w, err)
		return
	}
	if user == "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	list, err := s.UserSessions()
	if err != nil {
		fail(w, err)
		return
	}
	if !wantsHTML(r) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	sessionsTmpl.Execute(w, struct {
		User string
		Rows []seshat.SessionInfo
	}{user, list})
}

// logoutOthers ends every other session of the user.
func (a *app) logoutOthers(w http.ResponseWriter, r *http.Request) {
	n, err := a.m.Session(r).RevokeOthers()
	if err != nil {
		fail(w, err)
		return
	}
	done(w, r, "/sessions", "Logged out %d other sessions\n", n)
}

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Too large</title></head>
<body><p id="error">That note is too large: a session holds at most {{.}} bytes. Your session is unchanged.</p>
<p><a href="/">Back</a></p></body></html>
`))

var sessionsTmpl = template.Must(template.New("sessions").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Your sessions</title>
<style>body{font-family:system-ui,sans-serif;max-width:48em;margin:2em auto;line-height:1.5}
td,th{padding:.2em .8em;text-align:left;white-space:nowrap}</style></head>
<body>
<h1>Sessions of {{.User}}</h1>
<table id="sessions">
<tr><th>Session</th><th>Device</th><th>Network</th><th>Created</th><th>Last seen</th><th>Expires</th><th></th></tr>
{{range .Rows}}<tr class="session{{if .Current}} current{{end}}"><td><code>{{printf "%.8s" .Handle}}…</code></td>
<td class="device">{{with .Device}}{{.UserAgent}}{{end}}</td><td class="network">{{with .Device}}{{.Network}}{{end}}</td>
<td>{{.Created.Format "2006-01-02 15:04:05"}}</td><td>{{.LastSeen.Format "2006-01-02 15:04:05"}}</td>
<td>{{.ExpiresAt.Format "2006-01-02 15:04:05"}}</td><td class="mark">{{if .Current}}this device{{end}}</td></tr>
{{end}}</table>
<form method="post" action="/sessions/logout-others"><button id="logout-others" type="submit">Log out other devices</button></form>
<p><a href="/">Back</a></p>
</body></html>
`))

func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	if a.health != nil {
		if err := a.health(r.Context()); err != nil {
			http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	text(w, "ok\n")
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>seshat demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:2em auto;line-height:1.5}
form{margin:1em 0}input,button{font-size:1em}</style></head>
<body>
<h1>seshat demo</h1>
<p id="views">Number of views: {{.Views}}</p>
{{if .User}}
<p id="user">Logged in as <strong>{{.User}}</strong>. <a id="sessions-link" href="/sessions">Your sessions</a></p>
<form method="post" action="/logout"><button id="logout" type="submit">Log out</button></form>
{{else}}
<form method="post" action="/login">
<label>User <input id="user-input" name="user" autocomplete="username" required></label>
<button id="login" type="submit">Log in</button>
</form>
{{end}}
<form method="post" action="/note">
<label>Note <input id="note-input" name="text" value="{{.Note}}"></label>
<button id="save-note" type="submit">Save</button>
</form>
{{if .Limit}}<p id="limit">A session holds at most {{.Limit}} bytes; a larger note is refused and changes nothing.</p>{{end}}
</body></html>
`))

func (a *app) page(w http.ResponseWriter, r *http.Request, views int64) {
	s := a.m.Session(r)
	user, _ := s.User()
	note, _ := seshat.Get[string](s, "note")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTmpl.Execute(w, struct {
		Views      int64
		User, Note string
		Limit      int
	}{views, user, note, a.limit})
}
