package demo_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// backends returns the stores the demo is tried on.
func backends(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"memstore": func(t *testing.T) store.Store { return memstore.New() },
		"redis": func(t *testing.T) store.Store {
			srv := redistest.Start(t)
			s, err := redisstore.New(srv.Client(t), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func start(t *testing.T, st store.Store, maxBytes int) (*httptest.Server, func() *client) {
	col := metrics.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	m, err := seshat.New(seshat.Options{
		Store:           st,
		Secrets:         [][]byte{[]byte("demo-test-secret-0123456789abcdef")},
		MaxSessionBytes: maxBytes,
		Observer:        col,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(demo.Handler(demo.Config{Manager: m, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}))
	t.Cleanup(srv.Close)
	return srv, func() *client {
		jar, _ := cookiejar.New(nil)
		return &client{t: t, base: srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	}
}

func (c *client) do(method, path string, form url.Values) (int, string, http.Header) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (c *client) cookie() string {
	u, _ := url.Parse(c.base)
	for _, k := range c.c.Jar.Cookies(u) {
		if k.Name == "seshat" {
			return k.Value
		}
	}
	return ""
}

func (c *client) setCookie(v string) {
	u, _ := url.Parse(c.base)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: "seshat", Value: v, Path: "/"}})
}

func TestDemo(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			_, newClient := start(t, newStore(t), 4096)
			c := newClient()

			t.Run("views count 1, 2, 3 and /read changes nothing", func(t *testing.T) {
				for i := 1; i <= 3; i++ {
					if _, b, _ := c.do("GET", "/", nil); b != fmt.Sprintf("Number of views: %d\n", i) {
						t.Fatalf("visit %d: %q", i, b)
					}
				}
				for range 2 {
					if _, b, _ := c.do("GET", "/read", nil); b != "Number of views: 3\n" {
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
						if code, _, _ := c.do("GET", "/", nil); code != 200 {
							t.Errorf("status %d", code)
						}
					}()
				}
				wg.Wait()
				if _, b, _ := c.do("GET", "/read", nil); b != "Number of views: 103\n" {
					t.Fatalf("after 100 parallel views: %q", b)
				}
			})

			t.Run("a cookie with one character changed is a new empty session", func(t *testing.T) {
				v := c.cookie()
				for _, i := range []int{0, 20, 43, len(v) - 1} {
					tampered := []byte(v)
					tampered[i] ^= 1
					d := newClient()
					d.setCookie(string(tampered))
					if _, b, _ := d.do("GET", "/read", nil); b != "Number of views: 0\n" {
						t.Fatalf("tampered at %d: %q", i, b)
					}
				}
			})

			t.Run("login issues a new ID and the old one is not logged in", func(t *testing.T) {
				old := c.cookie()
				code, b, h := c.do("POST", "/login", url.Values{"user": {"bob"}})
				if code != 200 || b != "Logged in as bob\n" {
					t.Fatalf("login: %d %q", code, b)
				}
				sc := h.Get("Set-Cookie")
				if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
					t.Fatalf("Set-Cookie %q lacks HttpOnly or SameSite", sc)
				}
				if c.cookie() == old {
					t.Fatal("login kept the session ID")
				}
				if _, b, _ := c.do("GET", "/whoami", nil); b != "bob\n" {
					t.Fatalf("whoami: %q", b)
				}
				if _, b, _ := c.do("GET", "/read", nil); b != "Number of views: 103\n" {
					t.Fatalf("views moved with the login: %q", b)
				}
				o := newClient()
				o.setCookie(old)
				if code, _, _ := o.do("GET", "/whoami", nil); code != http.StatusUnauthorized {
					t.Fatalf("old ID after login: whoami %d; want 401", code)
				}
			})

			t.Run("logout makes whoami answer 401 for that ID", func(t *testing.T) {
				id := c.cookie()
				if code, _, _ := c.do("POST", "/logout", nil); code != 200 {
					t.Fatalf("logout: %d", code)
				}
				o := newClient()
				o.setCookie(id)
				if code, _, _ := o.do("GET", "/whoami", nil); code != http.StatusUnauthorized {
					t.Fatalf("whoami after logout: %d", code)
				}
			})

			t.Run("a note over the size limit is 413 and changes nothing", func(t *testing.T) {
				d := newClient()
				if code, _, _ := d.do("POST", "/note", url.Values{"text": {"small"}}); code != 200 {
					t.Fatalf("small note: %d", code)
				}
				code, _, _ := d.do("POST", "/note", url.Values{"text": {strings.Repeat("x", 6000)}})
				if code != http.StatusRequestEntityTooLarge {
					t.Fatalf("6000-byte note with a 4096-byte limit: %d; want 413", code)
				}
				req, _ := http.NewRequest("GET", d.base+"/", nil)
				req.Header.Set("Accept", "text/html")
				resp, err := d.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				page, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(page), `value="small"`) {
					t.Fatalf("the note changed after a refused update:\n%s", page)
				}
			})

			t.Run("metrics and health", func(t *testing.T) {
				_, b, _ := c.do("GET", "/metrics", nil)
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
				if code, _, _ := c.do("GET", "/healthz", nil); code != 200 {
					t.Errorf("healthz: %d", code)
				}
			})
		})
	}
}

func TestDemoSessionsPage(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			_, newClient := start(t, newStore(t), 0)
			devices := []*client{newClient(), newClient(), newClient()}
			for _, d := range devices {
				if code, _, _ := d.do("POST", "/login", url.Values{"user": {"bob"}}); code != 200 {
					t.Fatal("login failed")
				}
			}
			code, body, h := devices[0].do("GET", "/sessions", nil)
			var list []seshat.SessionInfo
			if code != 200 || h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &list) != nil || len(list) != 3 {
				t.Fatalf("/sessions: %d %q", code, body)
			}
			req, _ := http.NewRequest("GET", devices[0].base+"/sessions", nil)
			req.Header.Set("Accept", "text/html")
			resp, err := devices[0].c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Count(string(page), `class="session`) != 3 || strings.Count(string(page), "this device") != 1 {
				t.Fatalf("sessions page:\n%s", page)
			}
			if _, body, _ := devices[1].do("POST", "/sessions/logout-others", nil); body != "Logged out 2 other sessions\n" {
				t.Fatalf("logout-others: %q", body)
			}
			for i, d := range devices {
				code, _, _ := d.do("GET", "/whoami", nil)
				if want := map[bool]int{true: 200, false: 401}[i == 1]; code != want {
					t.Errorf("device %d after logout-others on device 1: whoami %d; want %d", i, code, want)
				}
			}
			if code, _, _ := newClient().do("GET", "/sessions", nil); code != http.StatusUnauthorized {
				t.Errorf("/sessions when not logged in: %d", code)
			}
		})
	}
}

// A double-submitted login form, as a browser sends it: one submission
// logs in; the other, moved, redirects to the page instead of an error,
// and the browser ends up on the new session with its data.
func TestDoubleSubmittedLogin(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			_, newClient := start(t, newStore(t), 0)
			for round := range 20 {
				c := newClient()
				c.do("GET", "/", nil)
				c.do("GET", "/", nil) // views 2
				old := c.cookie()
				var wg sync.WaitGroup
				codes := make([]int, 2)
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest("POST", c.base+"/login", strings.NewReader("user=ann"))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.Header.Set("Accept", "text/html")
						resp, err := c.c.Do(req)
						if err != nil {
							t.Errorf("login: %v", err)
							return
						}
						resp.Body.Close()
						codes[i] = resp.StatusCode
					}()
				}
				wg.Wait()
				if codes[0] != http.StatusSeeOther || codes[1] != http.StatusSeeOther {
					t.Fatalf("round %d: double-submitted login answered %v; want two redirects", round, codes)
				}
				if c.cookie() == old {
					t.Fatalf("round %d: the browser kept the old cookie", round)
				}
				if code, body, _ := c.do("GET", "/whoami", nil); code != 200 || strings.TrimSpace(body) != "ann" {
					t.Fatalf("round %d: after a double-submitted login whoami = %d %q", round, code, body)
				}
				if _, body, _ := c.do("GET", "/read", nil); !strings.Contains(body, "Number of views: 2") {
					t.Fatalf("round %d: after a double-submitted login the session reads %q; want the 2 views", round, body)
				}
			}
		})
	}
}
