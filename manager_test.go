package seshat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

var testSecret = []byte("test-secret-0123456789abcdef0123456789")

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	m     *Manager
	clock *clock
	store *memstore.Store
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	st, ok := o.Store.(*memstore.Store)
	if o.Store == nil {
		st = memstore.New()
		o.Store = st
	} else if !ok {
		st = nil
	}
	if o.Secrets == nil {
		o.Secrets = [][]byte{testSecret}
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	m.now = c.now
	return &env{t: t, m: m, clock: c, store: st}
}

// serve runs one request through the middleware and handler h.
func (e *env) serve(h func(w http.ResponseWriter, r *http.Request, s *Session), cookie string) *http.Response {
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "seshat", Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, e.m.Session(r)) })).ServeHTTP(rec, req)
	return rec.Result()
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "seshat" {
			return c
		}
	}
	return nil
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestOptionsValidation(t *testing.T) {
	ok := [][]byte{testSecret}
	tests := []struct {
		name string
		o    Options
	}{
		{"no secret", Options{}},
		{"short secret", Options{Secrets: [][]byte{[]byte("short")}}},
		{"bad cookie name", Options{Secrets: ok, CookieName: "a b"}},
		{"negative idle", Options{Secrets: ok, IdleTimeout: -time.Second}},
		{"touch beyond idle", Options{Secrets: ok, IdleTimeout: time.Minute, TouchInterval: time.Hour}},
		{"SameSite=None without Secure", Options{Secrets: ok, SameSite: http.SameSiteNoneMode, Secure: SecureNever}},
		{"user cap without index", Options{Secrets: ok, MaxSessionsPerUser: 2, Store: plainStore{memstore.New()}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: New = %v; want ErrInvalidOptions", tt.name, err)
		}
	}
	m, err := New(Options{Secrets: ok})
	if err != nil {
		t.Fatal(err)
	}
	o := m.opts
	if o.CookieName != "seshat" || o.IdleTimeout != 30*time.Minute || o.Lifetime != 24*time.Hour ||
		o.SameSite != http.SameSiteLaxMode || o.MaxSessionBytes != 64<<10 || o.TouchInterval != time.Minute || o.StoreTimeout != time.Second {
		t.Fatalf("defaults: %+v", o)
	}
}

// plainStore hides a store's optional capabilities.
type plainStore struct{ store.Store }

func TestNothingStoredNoCookie(t *testing.T) {
	e := newEnv(t, Options{})
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if _, err := Get[string](s, "x"); !errors.Is(err, ErrNoValue) {
			t.Errorf("Get on an empty session = %v; want ErrNoValue", err)
		}
	}, "")
	if c := sessionCookie(resp); c != nil {
		t.Fatalf("an untouched session set a cookie: %v", c)
	}
	if n, _ := e.store.Count(t.Context(), e.clock.now()); n != 0 {
		t.Fatalf("an empty session was stored (%d sessions)", n)
	}
}

func TestCookieAttributes(t *testing.T) {
	e := newEnv(t, Options{})
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 1) }, "")
	c := sessionCookie(resp)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.MaxAge != 86400 {
		t.Fatalf("cookie %+v", c)
	}
	if got := resp.Header.Get("Vary"); got != "Cookie" {
		t.Errorf("Vary = %q", got)
	}
	// Over TLS the cookie is Secure by default.
	req := httptest.NewRequest("GET", "https://example.test/", nil)
	rec := httptest.NewRecorder()
	e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.m.Session(r).Set("a", 1) })).ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-seshat" || !cookies[0].Secure || cookies[0].Path != "/" || cookies[0].Domain != "" {
		t.Fatalf("cookie over TLS: %+v; want a Secure __Host-seshat cookie", cookies)
	}
	// The secure cookie is read back under its prefixed name.
	req = httptest.NewRequest("GET", "https://example.test/", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, err := Get[int](e.m.Session(r), "a"); v != 1 || err != nil {
			t.Errorf("reading the __Host- cookie back: %d, %v", v, err)
		}
	})).ServeHTTP(rec, req)

	// Behind a proxy, X-Forwarded-Proto counts only when trusted.
	for _, trust := range []bool{false, true} {
		p := newEnv(t, Options{TrustForwardedProto: trust})
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		rec := httptest.NewRecorder()
		p.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.m.Session(r).Set("a", 1) })).ServeHTTP(rec, req)
		c := rec.Result().Cookies()[0]
		if c.Secure != trust || (c.Name == "__Host-seshat") != trust {
			t.Errorf("X-Forwarded-Proto https, trusted %v: cookie %s Secure=%v", trust, c.Name, c.Secure)
		}
	}
}

func TestSetErrorsAreImmediate(t *testing.T) {
	e := newEnv(t, Options{MaxSessionBytes: 100})
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		err := s.Set("ch", make(chan int))
		if !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), `"ch"`) || !strings.Contains(err.Error(), "chan int") {
			t.Errorf("Set(chan) = %v; want ErrEncode naming the key and type", err)
		}
		if err := s.Set("@meta", 1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Set(@meta) = %v; want ErrInvalidKey", err)
		}
		s.Set("small", "x")
		if err := s.Set("big", strings.Repeat("x", 200)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Set(200 bytes) with a 100-byte limit = %v; want ErrTooLarge", err)
		}
		if keys, _ := s.Keys(); fmt.Sprint(keys) != "[small]" {
			t.Errorf("keys after refused sets: %v", keys)
		}
	}, "")
	c := sessionCookie(resp)
	resp = e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if v, err := Get[string](s, "small"); v != "x" || err != nil {
			t.Errorf("small = %q, %v", v, err)
		}
		if _, err := Get[int](s, "small"); !errors.Is(err, ErrDecode) {
			t.Errorf("Get[int] of a string = %v; want ErrDecode", err)
		}
	}, c.Value)
}

func TestIncrAndUpdate(t *testing.T) {
	e := newEnv(t, Options{})
	var cookie string
	for want := int64(1); want <= 3; want++ {
		resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			n, err := s.Incr("n", 1)
			if err != nil || n != want {
				t.Errorf("Incr = %d, %v; want %d", n, err, want)
			}
			v, err := Update(s, "list", func(l []string) ([]string, error) { return append(l, fmt.Sprint(want)), nil })
			if err != nil || len(v) != int(want) {
				t.Errorf("Update = %v, %v", v, err)
			}
		}, cookie)
		if c := sessionCookie(resp); c != nil {
			cookie = c.Value
		}
	}
	// Incr on a value of another type: reported to OnCorrupt, which may
	// keep it (FailRequest) or, by default, let the count replace it.
	strict := newEnv(t, Options{Store: e.m.store, OnCorrupt: func(Corruption) CorruptAction { return FailRequest }})
	strict.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if _, err := s.Incr("list", 1); !errors.Is(err, ErrNotInteger) {
			t.Errorf("Incr of a list with FailRequest = %v; want ErrNotInteger", err)
		}
		if l, _ := Get[[]string](s, "list"); fmt.Sprint(l) != "[1 2 3]" {
			t.Errorf("list = %v", l)
		}
	}, cookie)
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if n, err := s.Incr("list", 1); n != 1 || err != nil {
			t.Errorf("Incr of a list = %d, %v; want 1 (replaced, as if absent)", n, err)
		}
	}, cookie)
}

func TestParallelUpdatesThroughHTTP(t *testing.T) {
	e := newEnv(t, Options{})
	h := e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		if _, err := Update(s, "n", func(n int) (int, error) { return n + 1, nil }); err != nil {
			http.Error(w, err.Error(), StatusCode(err))
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, _ := http.Get(srv.URL)
	c := sessionCookie(resp)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.AddCookie(c)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
				t.Errorf("update: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if n, _ := Get[int](s, "n"); n != 101 {
			t.Errorf("after 1 + 100 parallel Updates, n = %d", n)
		}
	}, c.Value)
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: 10 * time.Minute, Lifetime: time.Hour})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 1) }, ""))
	read := func() (int, *http.Cookie) {
		var v int
		resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { v, _ = Get[int](s, "a") }, c.Value)
		return v, sessionCookie(resp)
	}
	for range 5 { // active every 9 minutes: alive past the idle timeout
		e.clock.add(9 * time.Minute)
		if v, _ := read(); v != 1 {
			t.Fatalf("active session lost at %v", e.clock.now())
		}
	}
	e.clock.add(11 * time.Minute)
	if v, cleared := read(); v != 0 || cleared == nil || cleared.MaxAge >= 0 {
		t.Fatalf("idle session: value %d, cookie %v; want gone and cleared", v, cleared)
	}
	// The lifetime ends even an active session.
	c = sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 1) }, ""))
	for range 7 {
		e.clock.add(9 * time.Minute)
		read()
	}
	if v, _ := read(); v != 0 {
		t.Fatal("session alive past its lifetime")
	}
}

func TestRegenerate(t *testing.T) {
	e := newEnv(t, Options{})
	old := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("cart", "3 items") }, ""))
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := s.Regenerate(); err != nil {
			t.Fatal(err)
		}
		s.SetUser("bob")
		if v, _ := Get[string](s, "cart"); v != "3 items" {
			t.Errorf("cart after Regenerate = %q", v)
		}
	}, old.Value)
	fresh := sessionCookie(resp)
	if fresh == nil || fresh.Value == old.Value {
		t.Fatalf("Regenerate kept the cookie: %v", fresh)
	}
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if u, _ := s.User(); u != "" {
			t.Errorf("the old ID reads user %q after Regenerate", u)
		}
	}, old.Value)
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		u, _ := s.User()
		cart, _ := Get[string](s, "cart")
		if u != "bob" || cart != "3 items" {
			t.Errorf("new ID: user %q cart %q", u, cart)
		}
	}, fresh.Value)
}

func TestDestroyThenWrite(t *testing.T) {
	e := newEnv(t, Options{})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("user", "bob") }, ""))
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := s.Destroy(); err != nil {
			t.Fatal(err)
		}
		if _, err := Get[string](s, "user"); !errors.Is(err, ErrNoValue) {
			t.Errorf("after Destroy, user = %v", err)
		}
		s.Set("flash", "logged out")
	}, c.Value)
	nc := sessionCookie(resp)
	if nc == nil || nc.Value == c.Value || nc.MaxAge <= 0 {
		t.Fatalf("writing after Destroy: cookie %v; want a new session's", nc)
	}
	if n, _ := e.store.Count(t.Context(), e.clock.now()); n != 1 {
		t.Fatalf("%d sessions stored; want only the new one", n)
	}
}

func TestCommitAfterConcurrentDestroy(t *testing.T) {
	e := newEnv(t, Options{})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 1) }, ""))
	key, _ := e.m.HandleOf(c.Value)
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		Get[int](s, "a")                      // loaded
		e.store.Destroy(t.Context(), key)     // logout elsewhere
		s.Set("b", 2)                         // committed before headers: fails
		w.Header().Set("X-Handler", "ran")    // the error handler answers instead
		io.WriteString(w, "handler response") // discarded
	}, c.Value)
	if resp.StatusCode != http.StatusConflict || strings.Contains(body(resp), "handler response") {
		t.Fatalf("commit to a destroyed session: status %d; want 409 from the error handler", resp.StatusCode)
	}
	if _, err := e.store.Load(t.Context(), key, store.LoadOptions{Now: time.Now()}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("destroyed session came back: %v", err)
	}
}

// A request that read a session destroyed meanwhile (a logout, a
// revocation) and then regenerates it keeps only its own changes: the
// ended session's user does not come back, bound to a fresh session.
func TestRegenerateAfterConcurrentDestroyKeepsNoUser(t *testing.T) {
	e := newEnv(t, Options{})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		s.SetUser("bob")
		s.Set("cart", "3 items")
	}, ""))
	key, _ := e.m.HandleOf(c.Value)
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if u, _ := s.User(); u != "bob" { // loaded
			t.Fatalf("user = %q; want bob", u)
		}
		e.store.Destroy(t.Context(), key) // revoked elsewhere
		if err := s.Regenerate(); err != nil {
			t.Fatal(err)
		}
		s.Set("theme", "dark")
		if u, _ := s.User(); u != "" {
			t.Errorf("after Regenerate of a destroyed session, user = %q; want none", u)
		}
	}, c.Value)
	nc := sessionCookie(resp)
	if nc == nil || nc.Value == c.Value {
		t.Fatalf("Regenerate of a destroyed session with a change: cookie %v; want a new session's", nc)
	}
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		u, _ := s.User()
		keys, _ := s.Keys()
		if u != "" || strings.Join(keys, ",") != "theme" {
			t.Errorf("G3 broken: the session a request regenerated after a concurrent Destroy has user %q, values %v; "+
				"want no user and only its own change (theme)", u, keys)
		}
	}, nc.Value)
}

func TestSecretRotationResigns(t *testing.T) {
	st := memstore.New()
	oldSecret := []byte("old-secret-0123456789abcdef0123456789")
	e1 := newEnv(t, Options{Store: st, Secrets: [][]byte{oldSecret}})
	c := sessionCookie(e1.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 7) }, ""))
	e2 := newEnv(t, Options{Store: st, Secrets: [][]byte{testSecret, oldSecret}})
	resp := e2.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if v, _ := Get[int](s, "a"); v != 7 {
			t.Errorf("old cookie after rotation reads %d", v)
		}
	}, c.Value)
	nc := sessionCookie(resp)
	if nc == nil || nc.Value == c.Value || nc.MaxAge <= 0 {
		t.Fatalf("no re-signed cookie after rotation: %v", nc)
	}
	if _, idx, ok := e2.m.signer.verify(nc.Value); !ok || idx != 0 {
		t.Fatal("re-signed cookie is not signed by the first secret")
	}
	// Even an untouched session is re-signed.
	if nc := sessionCookie(e2.serve(func(http.ResponseWriter, *http.Request, *Session) {}, c.Value)); nc == nil {
		t.Fatal("an untouched session with an old signature was not re-signed")
	}
}

func TestUserCap(t *testing.T) {
	e := newEnv(t, Options{MaxSessionsPerUser: 2})
	var cookies []string
	for range 3 {
		e.clock.add(time.Second)
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.SetUser("bob") }, ""))
		cookies = append(cookies, c.Value)
	}
	var users []string
	for _, c := range cookies {
		e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			u, _ := s.User()
			users = append(users, u)
		}, c)
	}
	if fmt.Sprint(users) != "[ bob bob]" {
		t.Fatalf("users of the 3 sessions with a cap of 2: %q; want the oldest logged out", users)
	}
}

// Streaming: the session commits before the first byte, the body is not
// buffered, and Flush, ResponseController and Hijack work through the
// middleware.
func TestStreamingAndResponseController(t *testing.T) {
	e := newEnv(t, Options{})
	firstSeen := make(chan struct{})
	h := e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		s.Set("a", 1)
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Errorf("SetWriteDeadline through the middleware: %v", err)
		}
		io.WriteString(w, "first\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		<-firstSeen // the client has the first line while we still run
		if err := s.Set("b", 2); err == nil {
			t.Error("Set after the response started succeeded; it cannot be committed")
		}
		io.WriteString(w, "second\n")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if sessionCookie(resp) == nil {
		t.Fatal("no cookie on a streamed response")
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != "first\n" {
		t.Fatalf("first line %q", line)
	}
	close(firstSeen)
	if line, _ := br.ReadString('\n'); line != "second\n" {
		t.Fatalf("second line %q", line)
	}

	hj := httptest.NewServer(e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Set("a", 1)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		buf.Flush()
	})))
	defer hj.Close()
	resp2, err := http.Get(hj.URL)
	if err != nil {
		t.Fatal(err)
	}
	if b := body(resp2); b != "hijacked" {
		t.Fatalf("hijacked body %q", b)
	}
	if n, _ := e.store.Count(t.Context(), e.clock.now()); n != 2 {
		t.Fatalf("%d sessions; the streamed and hijacked requests should have committed one each", n)
	}
}

func TestTwoManagersInOneChain(t *testing.T) {
	a := newEnv(t, Options{CookieName: "a"})
	b := newEnv(t, Options{CookieName: "b"})
	h := a.m.Handler(b.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.m.Session(r).Set("who", "a")
		b.m.Session(r).Set("who", "b")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if n := len(rec.Result().Cookies()); n != 2 {
		t.Fatalf("%d cookies; want one per manager", n)
	}
	if _, err := Get[string](a.m.Session(httptest.NewRequest("GET", "/", nil)), "who"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Session outside the middleware: %v; want ErrNoSession", err)
	}
}

// A request that only writes makes one store call; a value that takes the
// session over the limit is then refused by the commit: the error handler
// answers 413 instead of the handler, and nothing of it is stored.
func TestWriteOnlySetIsOneCallAndTheCommitEnforcesTheLimit(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, Options{Store: cs, MaxSessionBytes: 100})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", "x") }, "")).Value
	cs.calls.Store(0)
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := s.Set("b", "y"); err != nil {
			t.Errorf("Set: %v", err)
		}
	}, c)
	if n := cs.calls.Load(); resp.StatusCode != 200 || n != 1 {
		t.Fatalf("a write-only Set: status %d, %d store calls; want 200 and 1 (no load)", resp.StatusCode, n)
	}
	resp = e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := s.Set("big", strings.Repeat("x", 200)); err != nil {
			t.Errorf("Set of a value over the limit, not read first: %v (the commit refuses it)", err)
		}
		w.Write([]byte("handler body"))
	}, c)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "session too large") || strings.Contains(string(body), "handler body") {
		t.Fatalf("a write-only Set over the limit: %d %q; want 413 from the error handler", resp.StatusCode, body)
	}
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if _, err := Get[string](s, "big"); !errors.Is(err, ErrNoValue) {
			t.Errorf("the refused value was stored: %v", err)
		}
		if v, _ := Get[string](s, "b"); v != "y" {
			t.Errorf("b = %q; want y", v)
		}
	}, c)
}
