// Package demo holds scenarios of the demo application on every store of
// the matrix: views, login, logout, the size limit, metrics, the sessions
// page, a double-submitted login.
package demo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/e2e/internal/storematrix"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/store"
)

// start serves the demo on st with a session size limit (0: none) and
// returns a function that makes a new browser of it.
func start(t *testing.T, st store.Store, maxBytes int) func() *testhttp.Client {
	col := metrics.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	m, err := seshat.New(seshat.Options{
		Store:           st,
		Secrets:         [][]byte{[]byte("demo-test-secret-0123456789abcdef")},
		MaxSessionBytes: maxBytes,
		Observer:        col,
		// 100 parallel views of one session wait for its row lock one after
		// the other on PostgreSQL: the scenarios are about what is counted,
		// so the last in line must not time out on a loaded CI machine.
		StoreTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(demo.Handler(demo.Config{Manager: m, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}))
	t.Cleanup(srv.Close)
	return func() *testhttp.Client { return testhttp.NewBrowser(t, srv.URL) }
}

func TestDemo(t *testing.T) {
	for _, st := range storematrix.All() {
		t.Run(st.Name, func(t *testing.T) {
			newClient := start(t, st.New(t), 4096)
			c := newClient()

			t.Run("views count 1, 2, 3 and /read changes nothing", func(t *testing.T) {
				for i := 1; i <= 3; i++ {
					if _, b, _ := c.Do("GET", "/", "", nil); b != fmt.Sprintf("Number of views: %d\n", i) {
						t.Fatalf("visit %d: %q", i, b)
					}
				}
				for range 2 {
					if _, b, _ := c.Do("GET", "/read", "", nil); b != "Number of views: 3\n" {
						t.Fatalf("/read: %q", b)
					}
				}
			})

			t.Run("100 parallel views on one cookie add exactly 100", func(t *testing.T) {
				var wg sync.WaitGroup
				for range 100 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if code, _, _ := c.Do("GET", "/", "", nil); code != 200 {
							t.Errorf("status %d", code)
						}
					}()
				}
				wg.Wait()
				if _, b, _ := c.Do("GET", "/read", "", nil); b != "Number of views: 103\n" {
					t.Fatalf("after 100 parallel views: %q", b)
				}
			})

			t.Run("a cookie with one character changed is a new empty session", func(t *testing.T) {
				v := c.Cookie()
				for _, i := range []int{0, 20, 43, len(v) - 1} {
					tampered := []byte(v)
					tampered[i] ^= 1
					d := newClient()
					d.SetCookie(string(tampered))
					if _, b, _ := d.Do("GET", "/read", "", nil); b != "Number of views: 0\n" {
						t.Fatalf("tampered at %d: %q", i, b)
					}
				}
			})

			t.Run("login issues a new ID and the old one is not logged in", func(t *testing.T) {
				old := c.Cookie()
				req := c.Request("POST", "/login", strings.NewReader(url.Values{"user": {"bob"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r := c.Send(req, "")
				if r.Status != 200 || r.Body != "Logged in as bob\n" {
					t.Fatalf("login: %d %q", r.Status, r.Body)
				}
				sc := r.Header.Get("Set-Cookie")
				if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
					t.Fatalf("Set-Cookie %q lacks HttpOnly or SameSite", sc)
				}
				if c.Cookie() == old {
					t.Fatal("login kept the session ID")
				}
				if _, b, _ := c.Do("GET", "/whoami", "", nil); b != "bob\n" {
					t.Fatalf("whoami: %q", b)
				}
				if _, b, _ := c.Do("GET", "/read", "", nil); b != "Number of views: 103\n" {
					t.Fatalf("views moved with the login: %q", b)
				}
				o := newClient()
				o.SetCookie(old)
				if code, _, _ := o.Do("GET", "/whoami", "", nil); code != http.StatusUnauthorized {
					t.Fatalf("old ID after login: whoami %d; want 401", code)
				}
			})

			t.Run("logout makes whoami answer 401 for that ID", func(t *testing.T) {
				id := c.Cookie()
				if code, _, _ := c.Do("POST", "/logout", "", nil); code != 200 {
					t.Fatalf("logout: %d", code)
				}
				o := newClient()
				o.SetCookie(id)
				if code, _, _ := o.Do("GET", "/whoami", "", nil); code != http.StatusUnauthorized {
					t.Fatalf("whoami after logout: %d", code)
				}
			})

			t.Run("a note over the size limit is 413 and changes nothing", func(t *testing.T) {
				d := newClient()
				if code, _, _ := d.Do("POST", "/note", "", url.Values{"text": {"small"}}); code != 200 {
					t.Fatalf("small note: %d", code)
				}
				code, _, _ := d.Do("POST", "/note", "", url.Values{"text": {strings.Repeat("x", 6000)}})
				if code != http.StatusRequestEntityTooLarge {
					t.Fatalf("6000-byte note with a 4096-byte limit: %d; want 413", code)
				}
				req := d.Request("GET", "/", nil)
				req.Header.Set("Accept", "text/html")
				if page := d.Send(req, "").Body; !strings.Contains(page, `value="small"`) {
					t.Fatalf("the note changed after a refused update:\n%s", page)
				}
			})

			t.Run("metrics and health", func(t *testing.T) {
				_, b, _ := c.Do("GET", "/metrics", "", nil)
				for _, want := range []string{
					`seshat_session_events_total{event="created"}`,
					`seshat_store_operations_total{op="load",result="ok"}`,
					`seshat_store_operations_total{op="incr",result="ok"}`,
					`seshat_store_operations_total{op="take",result="ok"}`,
					`seshat_store_operation_duration_seconds_bucket`,
				} {
					if !strings.Contains(b, want) {
						t.Errorf("/metrics lacks %s", want)
					}
				}
				if code, _, _ := c.Do("GET", "/healthz", "", nil); code != 200 {
					t.Errorf("healthz: %d", code)
				}
			})
		})
	}
}

func TestDemoSessionsPage(t *testing.T) {
	for _, st := range storematrix.All() {
		t.Run(st.Name, func(t *testing.T) {
			newClient := start(t, st.New(t), 0)
			devices := []*testhttp.Client{newClient(), newClient(), newClient()}
			for _, d := range devices {
				if code, _, _ := d.Do("POST", "/login", "", url.Values{"user": {"bob"}}); code != 200 {
					t.Fatal("login failed")
				}
			}
			r := devices[0].Send(devices[0].Request("GET", "/sessions", nil), "")
			var list []seshat.SessionInfo
			if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(r.Body), &list) != nil || len(list) != 3 {
				t.Fatalf("/sessions: %d %q", r.Status, r.Body)
			}
			req := devices[0].Request("GET", "/sessions", nil)
			req.Header.Set("Accept", "text/html")
			if page := devices[0].Send(req, "").Body; strings.Count(page, `class="session`) != 3 || strings.Count(page, "this device") != 1 {
				t.Fatalf("sessions page:\n%s", page)
			}
			if _, body, _ := devices[1].Do("POST", "/sessions/logout-others", "", nil); body != "Logged out 2 other sessions\n" {
				t.Fatalf("logout-others: %q", body)
			}
			for i, d := range devices {
				code, _, _ := d.Do("GET", "/whoami", "", nil)
				if want := map[bool]int{true: 200, false: 401}[i == 1]; code != want {
					t.Errorf("device %d after logout-others on device 1: whoami %d; want %d", i, code, want)
				}
			}
			if code, _, _ := newClient().Do("GET", "/sessions", "", nil); code != http.StatusUnauthorized {
				t.Errorf("/sessions when not logged in: %d", code)
			}
		})
	}
}

// A double-submitted login form, as a browser sends it: one submission
// logs in; the other, moved, redirects to the page instead of an error,
// and the browser ends up on the new session with its data.
func TestDoubleSubmittedLogin(t *testing.T) {
	for _, st := range storematrix.All() {
		t.Run(st.Name, func(t *testing.T) {
			newClient := start(t, st.New(t), 0)
			for round := range 20 {
				c := newClient()
				c.Do("GET", "/", "", nil)
				c.Do("GET", "/", "", nil) // views 2
				old := c.Cookie()
				var wg sync.WaitGroup
				codes := make([]int, 2)
				locations := make([]string, 2)
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req := c.Request("POST", "/login", strings.NewReader("user=ann"))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.Header.Set("Accept", "text/html")
						r := c.Send(req, "")
						codes[i], locations[i] = r.Status, r.Header.Get("Location")
					}()
				}
				wg.Wait()
				if codes[0] != http.StatusSeeOther || codes[1] != http.StatusSeeOther {
					t.Fatalf("round %d: double-submitted login answered %v; want two redirects", round, codes)
				}
				if c.Cookie() == old {
					t.Fatalf("round %d: the browser kept the old cookie", round)
				}
				// The browser follows a redirect (the loser's as well as the
				// winner's) with the cookie it holds: each lands on the
				// logged-in page.
				for i, loc := range locations {
					req := c.Request("GET", loc, nil)
					req.Header.Set("Accept", "text/html")
					if r := c.Send(req, ""); r.Status != 200 || !strings.Contains(r.Body, "ann") {
						t.Fatalf("round %d: following redirect %d to %q answered %d %q; want the logged-in page", round, i, loc, r.Status, r.Body)
					}
				}
				if code, body, _ := c.Do("GET", "/whoami", "", nil); code != 200 || strings.TrimSpace(body) != "ann" {
					t.Fatalf("round %d: after a double-submitted login whoami = %d %q", round, code, body)
				}
				if _, body, _ := c.Do("GET", "/read", "", nil); !strings.Contains(body, "Number of views: 4") {
					t.Fatalf("round %d: after a double-submitted login and its two redirects the session reads %q; want 4 views (2 before, one per redirect followed)", round, body)
				}
			}
		})
	}
}
