package storetest

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/seal"
	"github.com/seshat-go/seshat/store"
)

// These cases run the store behind a real seshat.Manager and HTTP server,
// checking the guarantees end to end.

// app is the view counter (App) on one store, served by the harness's
// Server, and a client of it.
type app struct {
	*testhttp.Client
	*App
	h     *harness
	store *Counting
	m     *seshat.Manager
}

// appStoreTimeout is the app's StoreTimeout: generous, so that a loaded
// machine fails no case by time alone.
const appStoreTimeout = 10 * time.Second

// The app's limits, for the cases of G9 through HTTP.
const (
	appMaxSessionBytes = 4 << 10
	appMaxBodyBytes    = 16 << 10
)

func newApp(h *harness) *app { return newAppWith(h, false) }

// outageApp is the app with the default StoreTimeout, for the cases that
// measure how fast an unreachable store fails requests.
func outageApp(h *harness) *app { return buildApp(h, false, 0) }

// newAppWith runs the app with encryption at rest on or off.
func newAppWith(h *harness, encrypted bool) *app { return buildApp(h, encrypted, appStoreTimeout) }

// buildApp runs the app with encryption on or off and a StoreTimeout (0:
// the manager's default).
func buildApp(h *harness, encrypted bool, timeout time.Duration) *app {
	a := &app{h: h}
	a.m, a.store = newManager(h, encrypted, timeout)
	a.App = &App{Manager: a.m, MaxBodyBytes: appMaxBodyBytes, release: make(chan struct{})}
	var url string
	if h.serve != nil {
		url = h.serve(h.t, a.App)
	} else {
		server := httptest.NewServer(a.App.Handler())
		h.t.Cleanup(server.Close)
		url = server.URL
	}
	// Registered after the server's cleanup, so it runs first: a stream a
	// failed case left waiting ends before the server waits for it.
	h.t.Cleanup(a.App.finishStreams)
	// So is this one: a server that waits for its connections to close
	// (fasthttp's) does not wait for the client's idle ones.
	tr := &http.Transport{MaxIdleConnsPerHost: 128}
	h.t.Cleanup(tr.CloseIdleConnections)
	a.Client = &testhttp.Client{T: h.t, URL: url, HTTP: &http.Client{Transport: tr}}
	return a
}

// newManager returns a manager on the case's store, counting its calls,
// with the app's limits, encryption at rest on or off, and a StoreTimeout
// (0: the manager's default).
func newManager(h *harness, encrypted bool, timeout time.Duration) (*seshat.Manager, *Counting) {
	cs := &Counting{Store: h.s}
	opts := seshat.Options{
		Store:   cs,
		Secrets: [][]byte{[]byte("storetest-secret-0123456789abcdef")},
		// The cases send up to 100 requests at one session at once; a
		// store that serializes them (a row lock) answers the last ones
		// after the default second on a loaded machine. G10 keeps the
		// default (outageApp).
		StoreTimeout:    timeout,
		MaxSessionBytes: appMaxSessionBytes,
		MaxBodyBytes:    appMaxBodyBytes,
		// The warnings the corrupt-data cases of G8 cause by design would
		// bury a failure's output.
		Logger: slog.New(slog.DiscardHandler),
	}
	if encrypted {
		ring, err := seal.NewRing(seal.NewKey(), seal.NewKey())
		if err != nil {
			h.t.Fatal(err)
		}
		opts.Encryption = ring
		opts.HashKey = []byte("storetest-hash-key-0123456789abcdef")
	}
	m, err := seshat.New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return m, cs
}

// login creates a session through the app and returns its cookie value.
func (a *app) login() string {
	a.h.t.Helper()
	code, _, c := a.Do("GET", "/", "", nil)
	if code != 200 || c == "" {
		a.h.t.Fatalf("first visit: status %d, cookie %q", code, c)
	}
	return c
}

var g7 = []testCase{
	{"forged cookies never reach the store", func(h *harness) {
		a := newApp(h)
		real := a.login()
		a.store.Snapshot()
		forged := []string{
			"x", strings.Repeat("A", len(real)), real[:len(real)-1] + flip(real[len(real)-1]),
			flip(real[0]) + real[1:], real[:43] + "." + real[:43], real + "A", "", "..", strings.Repeat("é", 44),
		}
		for _, f := range forged {
			if code, body, _ := a.Do("GET", "/read", f, nil); code != 200 || body != "0" {
				h.t.Errorf("forged cookie %q: status %d body %q; want a new empty session", f, code, body)
			}
		}
		if calls := a.store.Snapshot(); len(calls) != 0 {
			h.t.Fatalf("G7 broken: forged cookies reached the store: %v", calls)
		}
	}},
	{"an ID the store does not know is never adopted", func(h *harness) {
		a := newApp(h)
		c := a.login()
		a.Do("POST", "/logout", c, nil)
		code, body, set := a.Do("GET", "/", c, nil)
		if code != 200 || body != "1" || set == "" || set == c {
			h.t.Fatalf("G7 broken: a request with a dead session's cookie got status %d body %q cookie %q; "+
				"want count 1 under a fresh ID (adopting a known ID allows session fixation)", code, body, set)
		}
	}},
}

var httpG1 = []testCase{
	{"through HTTP: parallel requests setting different keys all persist", func(h *harness) {
		a := newApp(h)
		c := a.login()
		parallel(100, func(i int) {
			if code, _, _ := a.Do("POST", fmt.Sprintf("/set?k=k%d&v=%d", i, i), c, nil); code != 200 {
				h.t.Errorf("set %d: status %d", i, code)
			}
		})
		rec := h.load(a.storeKeyOf(c))
		lost := 0
		for i := range 100 {
			if string(rec.Values[fmt.Sprintf("k%d", i)]) != "s"+strconv.Itoa(i) {
				lost++
			}
		}
		if lost > 0 {
			h.t.Fatalf("G1 broken: %d of 100 parallel requests lost their change", lost)
		}
	}},
}

var httpG2 = []testCase{
	{"through HTTP: 100 parallel view counts add exactly 100", func(h *harness) { parallelViews(h, false) }},
	{"through HTTP with encryption at rest: 100 parallel view counts add exactly 100", func(h *harness) { parallelViews(h, true) }},
}

// httpFlash runs through net/http only (Run, not RunHTTP): the framework
// adapters route the App's other handlers.
var httpFlash = []testCase{
	{"through HTTP: 50 parallel requests popping one flash, exactly one gets it", func(h *harness) { parallelPops(h, false) }},
	{"through HTTP with encryption at rest: 50 parallel requests popping one flash, exactly one gets it", func(h *harness) { parallelPops(h, true) }},
}

func parallelPops(h *harness, encrypted bool) {
	a := newAppWith(h, encrypted)
	c := a.login()
	for round := range 10 {
		if code, _, _ := a.Do("POST", fmt.Sprintf("/flash?k=notice&v=saved%d", round), c, nil); code != 200 {
			h.t.Fatalf("flash: status %d", code)
		}
		var got atomic.Int64
		parallel(50, func(int) {
			switch code, body, _ := a.Do("GET", "/pop?k=notice", c, nil); {
			case code == 200 && body == fmt.Sprintf("saved%d", round):
				got.Add(1)
			case code != http.StatusNotFound:
				h.t.Errorf("pop: status %d %q; want the flash or 404", code, body)
			}
		})
		if n := got.Load(); n != 1 {
			h.t.Fatalf("round %d: G2 broken (encryption %v): %d of 50 parallel pops got the flash; want exactly 1 "+
				"(Pop is a compare-and-delete in the store)", round, encrypted, n)
		}
	}
}

var httpG3 = []testCase{
	{"through HTTP: logout racing writers stays logged out", func(h *harness) {
		a := newApp(h)
		for round := range 10 {
			c := a.login()
			parallel(51, func(i int) {
				if i == 0 {
					if code, _, _ := a.Do("POST", "/logout", c, nil); code != 200 {
						h.t.Errorf("logout: status %d", code)
					}
					return
				}
				// Each answers 200 (before the logout, or on a fresh
				// anonymous session) or 409 (its session ended mid-request).
				if code, _, _ := a.Do("GET", "/", c, nil); code != 200 && code != http.StatusConflict {
					h.t.Errorf("writer: status %d", code)
				}
			})
			h.gone(a.storeKeyOf(c), fmt.Sprintf("round %d: logout racing 50 requests", round))
		}
	}},
}

var httpG4 = []testCase{
	{"through HTTP: 30 parallel logins from one cookie leave one session, with its data, 50 rounds", func(h *harness) {
		a := newApp(h)
		for round := range 50 {
			c := a.login() // views = 1
			var mu sync.Mutex
			var ok []string
			parallel(30, func(int) {
				code, body, set := a.Do("POST", "/login?user=ann", c, nil)
				switch {
				case code == 200 && set != "" && set != c:
					mu.Lock()
					ok = append(ok, set)
					mu.Unlock()
				case code == http.StatusConflict:
				default:
					h.t.Errorf("login: status %d %q cookie %q; want 200 with a new cookie, or 409 (moved)", code, body, set)
				}
			})
			if len(ok) != 1 {
				h.t.Fatalf("round %d: G4 broken: %d of 30 parallel logins from one cookie got a session; want exactly 1", round, len(ok))
			}
			if _, body, _ := a.Do("GET", "/read", ok[0], nil); body != "1" {
				h.t.Fatalf("round %d: G4 broken: the session after login reads views %s; want 1 (Regenerate moves the data)", round, body)
			}
			if code, _, _ := a.Do("GET", "/read", c, nil); code != http.StatusConflict {
				h.t.Fatalf("round %d: the old cookie after login got status %d; want 409 (moved)", round, code)
			}
			if cnt, isCounter := h.s.(store.Counter); isCounter {
				if n, err := cnt.Count(h.ctx(), time.Now()); err != nil || n != int64(round+1) {
					h.t.Fatalf("round %d: G4 broken: the store counts %d sessions (%v); want %d, one per round", round, n, err, round+1)
				}
			}
		}
	}},
}

var httpG5 = []testCase{
	{"through HTTP: a read-only request makes one store call and writes nothing", func(h *harness) {
		a := newApp(h)
		c := a.login()
		a.store.Snapshot()
		for range 5 {
			if r := a.Send(a.Request("GET", "/read", nil), c); r.Body != "1" || len(r.Cookies) != 0 {
				h.t.Fatalf("read: body %q, cookies %v", r.Body, r.Cookies)
			}
		}
		if calls := a.store.Snapshot(); calls["Load"] != 5 || len(calls) != 1 {
			h.t.Fatalf("G5 broken: 5 read-only requests made store calls %v; want exactly 5 Loads", calls)
		}
	}},
}

func parallelViews(h *harness, encrypted bool) {
	a := newAppWith(h, encrypted)
	c := a.login() // views = 1
	parallel(100, func(int) {
		if code, _, _ := a.Do("GET", "/", c, nil); code != 200 {
			h.t.Errorf("view: status %d", code)
		}
	})
	if _, body, _ := a.Do("GET", "/read", c, nil); body != "101" {
		h.t.Fatalf("G2 broken (encryption %v): after 1 + 100 parallel increments the count is %s", encrypted, body)
	}
}

// storeKeyOf returns the store key of a cookie.
func (a *app) storeKeyOf(cookie string) string {
	k, ok := a.m.HandleOf(cookie)
	if !ok {
		a.h.t.Fatalf("cookie %q does not verify", cookie)
	}
	return k
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
