package seshat

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
)

// recordingIssuer is seshat's own format that records what it is asked
// and sends "seshat=<value>; Issued" unless told to send nothing.
type recordingIssuer struct {
	CookieFormat
	mu    sync.Mutex
	asked []SessionCookie
	none  bool
}

func (r *recordingIssuer) IssueCookie(c SessionCookie) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, c)
	if r.none {
		return ""
	}
	return c.Name + "=" + r.Encode(c.ID) + "; Issued"
}

func (r *recordingIssuer) take() []SessionCookie {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.asked
	r.asked = nil
	return a
}

func newIssuerEnv(t *testing.T, rolling bool) (*env, *recordingIssuer) {
	t.Helper()
	plain, err := New(Options{Secrets: [][]byte{testSecret}, CookieName: "seshat"})
	if err != nil {
		t.Fatal(err)
	}
	iss := &recordingIssuer{CookieFormat: plain.format}
	st := memstore.New()
	return newEnv(t, Options{Store: st, Cookies: iss, RollingCookie: rolling}), iss
}

func issued(resp *http.Response) string {
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasSuffix(v, "; Issued") {
			return v
		}
	}
	return ""
}

func TestCookieIssuerDecidesTheSessionCookie(t *testing.T) {
	e, iss := newIssuerEnv(t, false)
	incr := func(w http.ResponseWriter, r *http.Request, s *Session) { s.Incr("n", 1) }
	read := func(w http.ResponseWriter, r *http.Request, s *Session) { Get[int](s, "n") }
	nothing := func(w http.ResponseWriter, r *http.Request, s *Session) {}

	resp := e.serve(incr, "")
	c := sessionCookie(resp)
	if c == nil || issued(resp) == "" {
		t.Fatalf("a created session got %q from the issuer", resp.Header.Values("Set-Cookie"))
	}
	if a := iss.take(); len(a) != 1 || !a[0].Created || a[0].Record == nil || a[0].ID == "" || a[0].Name != "seshat" {
		t.Fatalf("the issuer was asked %+v; want once, for a created session", a)
	}

	t.Run("a read-only request does not ask it", func(t *testing.T) {
		for _, h := range []func(http.ResponseWriter, *http.Request, *Session){read, nothing} {
			if resp := e.serve(h, c.Value); len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Fatalf("a read-only request sent %q", resp.Header.Values("Set-Cookie"))
			}
		}
		if a := iss.take(); len(a) != 0 {
			t.Fatalf("the issuer was asked %+v", a)
		}
	})

	t.Run("a write asks it, with the stored record", func(t *testing.T) {
		resp := e.serve(incr, c.Value)
		a := iss.take()
		if len(a) != 1 || !a[0].Wrote || a[0].Created || a[0].Stale || a[0].Record == nil {
			t.Fatalf("the issuer was asked %+v; want once, for a write", a)
		}
		if issued(resp) == "" {
			t.Fatalf("the issuer's cookie was not sent: %q", resp.Header.Values("Set-Cookie"))
		}
	})

	t.Run("its empty answer sends no cookie", func(t *testing.T) {
		iss.none = true
		defer func() { iss.none = false }()
		if resp := e.serve(incr, c.Value); len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("sent %q", resp.Header.Values("Set-Cookie"))
		}
		iss.take()
	})

	t.Run("destroying clears the cookie without it", func(t *testing.T) {
		resp := e.serve(incr, "")
		v := sessionCookie(resp).Value
		iss.take()
		resp = e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Destroy() }, v)
		if a := iss.take(); len(a) != 0 {
			t.Fatalf("the issuer was asked %+v", a)
		}
		if c := sessionCookie(resp); c == nil || c.MaxAge != -1 {
			t.Fatalf("destroy sent %q; want a clearing cookie", resp.Header.Values("Set-Cookie"))
		}
	})
}

func TestRollingCookie(t *testing.T) {
	t.Run("the issuer is asked on every request with a live session", func(t *testing.T) {
		e, iss := newIssuerEnv(t, true)
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 1) }, ""))
		iss.take()
		// The handler does not touch the session: it is loaded for the cookie.
		resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {}, c.Value)
		a := iss.take()
		if len(a) != 1 || !a[0].Rolling || a[0].Wrote || a[0].Record == nil || a[0].Record.Values["a"] == nil {
			t.Fatalf("the issuer was asked %+v; want once, rolling, with the stored session", a)
		}
		if issued(resp) == "" {
			t.Fatalf("no cookie: %q", resp.Header.Values("Set-Cookie"))
		}
		// An unknown session gets no cookie (and no session).
		e.store.Destroy(t.Context(), e.m.format.StoreKey(a[0].ID))
		e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {}, c.Value)
		if a := iss.take(); len(a) != 0 {
			t.Fatalf("asked for a session that is gone: %+v", a)
		}
	})
	t.Run("seshat's own cookie is sent again with the remaining lifetime", func(t *testing.T) {
		e := newEnv(t, Options{RollingCookie: true})
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 1) }, ""))
		e.clock.add(10 * time.Minute)
		again := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {}, c.Value))
		if again == nil || again.Value != c.Value || again.MaxAge != c.MaxAge-600 {
			t.Fatalf("rolling cookie %v ten minutes later; first %v", again, c)
		}
	})
}
