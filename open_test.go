package seshat

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// openCounter creates a session through Open, increments views, commits,
// and returns its token.
func openCounter(t *testing.T, m *Manager, token string) (n int64, next string) {
	t.Helper()
	s := m.Open(t.Context(), token)
	n, err := s.Incr("views", 1)
	if err != nil {
		t.Fatalf("Incr: %v", err)
	}
	if err := s.Commit(nil); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return n, s.Token()
}

func TestOpenForgedTokensNeverReachTheStore(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, Options{Store: cs})
	_, real := openCounter(t, e.m, "")
	cs.calls.Store(0)
	forged := []string{
		"x", real[:len(real)-1] + otherThan(real[len(real)-1]), otherThan(real[0]) + real[1:], real + "A", "..", "a b", "\x00",
		strings.Repeat("é", 44), newSigner([][]byte{[]byte("attacker-secret-0123456789abcdef")}, "seshat").sign(newID()),
	}
	for _, f := range forged {
		if f == real {
			continue
		}
		s := e.m.Open(t.Context(), f)
		if v, err := Get[int](s, "views"); !errors.Is(err, ErrNoValue) || v != 0 {
			t.Errorf("forged token %q reads views %d, %v; want a new empty session", f, v, err)
		}
		h := http.Header{}
		if err := s.Commit(h); err != nil {
			t.Errorf("forged token %q: Commit: %v", f, err)
		}
		if s.Token() != "" {
			t.Errorf("forged token %q: a session with nothing stored has token %q", f, s.Token())
		}
		if c := h.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") {
			t.Errorf("forged token %q: Set-Cookie %q; want the cookie cleared", f, c)
		}
	}
	if n := cs.calls.Load(); n != 0 {
		t.Fatalf("G7 broken: forged tokens made %d store calls; want 0", n)
	}
}

func TestOpenCommitIsFinal(t *testing.T) {
	e := newEnv(t, Options{})
	s := e.m.Open(t.Context(), "")
	if err := s.Set("a", 1); err != nil {
		t.Fatal(err)
	}
	if s.Token() != "" {
		t.Fatal("a new session has a token before Commit created it")
	}
	h := http.Header{}
	if err := s.Commit(h); err != nil {
		t.Fatal(err)
	}
	tok := s.Token()
	if tok == "" || !strings.Contains(h.Get("Set-Cookie"), "seshat="+tok) {
		t.Fatalf("after Commit: token %q, Set-Cookie %q; want the cookie carrying the token", tok, h.Get("Set-Cookie"))
	}
	// As after the first byte of a response: changes fail, nothing is stored.
	if err := s.Set("b", 2); !errors.Is(err, errTooLate) {
		t.Fatalf("Set after Commit = %v; want the too-late error", err)
	}
	if err := s.Commit(h); err != nil || len(h.Values("Set-Cookie")) != 1 {
		t.Fatalf("a second Commit = %v, Set-Cookie %q; want nil and nothing added", err, h.Values("Set-Cookie"))
	}
	if _, err := Get[int](e.m.Open(t.Context(), tok), "b"); !errors.Is(err, ErrNoValue) {
		t.Fatalf("a change after Commit was stored: %v", err)
	}
	// The same token works as a cookie.
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if v, err := Get[int](s, "a"); v != 1 {
			t.Errorf("the token as a cookie reads a = %d, %v", v, err)
		}
	}, tok)
}

func TestOpenParallelIncrementsAreExact(t *testing.T) {
	e := newEnv(t, Options{})
	_, tok := openCounter(t, e.m, "")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { openCounter(t, e.m, tok) })
	}
	wg.Wait()
	if v, _ := Get[int](e.m.Open(t.Context(), tok), "views"); v != 101 {
		t.Fatalf("G2 broken: 1 + 100 parallel increments through Open give %d", v)
	}
}

func TestOpenRegenerate(t *testing.T) {
	e := newEnv(t, Options{})
	_, old := openCounter(t, e.m, "")
	s := e.m.Open(t.Context(), old)
	if err := s.Regenerate(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUser("ann"); err != nil {
		t.Fatal(err)
	}
	if s.Token() != "" {
		t.Fatal("a regenerated session has a token before Commit stored it")
	}
	if err := s.Commit(nil); err != nil {
		t.Fatal(err)
	}
	fresh := s.Token()
	if fresh == "" || fresh == old {
		t.Fatalf("token after Regenerate = %q (old %q)", fresh, old)
	}
	ns := e.m.Open(t.Context(), fresh)
	if v, _ := Get[int](ns, "views"); v != 1 {
		t.Errorf("G4 broken: the regenerated session reads views %d; want 1", v)
	}
	if u, _ := ns.User(); u != "ann" {
		t.Errorf("the regenerated session's user = %q", u)
	}
	if _, err := Get[int](e.m.Open(t.Context(), old), "views"); !errors.Is(err, store.ErrMoved) {
		t.Fatalf("G4 broken: the old token after Regenerate: %v; want store.ErrMoved", err)
	}
}

func TestOpenDestroyWins(t *testing.T) {
	e := newEnv(t, Options{})
	for round := range 20 {
		_, tok := openCounter(t, e.m, "")
		key, _ := e.m.HandleOf(tok)
		var wg sync.WaitGroup
		for i := range 21 {
			wg.Go(func() {
				s := e.m.Open(t.Context(), tok)
				if i == 0 {
					if err := s.Destroy(); err != nil {
						t.Errorf("Destroy: %v", err)
					}
					return
				}
				Get[int](s, "views")
				s.Set("late", i)
				s.Commit(nil) // fails once the session ended: ErrEnded
			})
		}
		wg.Wait()
		if _, err := e.store.Load(t.Context(), key, store.LoadOptions{Now: e.clock.now()}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: G3 broken: a commit racing Destroy brought the session back: %v", round, err)
		}
	}
}

func TestOpenRequestReadsCookiesAsTheMiddleware(t *testing.T) {
	e := newEnv(t, Options{Secure: SecureAuto})
	_, tok := openCounter(t, e.m, "")
	h := http.Header{"Cookie": {"seshat=forged; other=1", "seshat=" + tok}}
	s := e.m.OpenRequest(t.Context(), h, false)
	if v, _ := Get[int](s, "views"); v != 1 {
		t.Fatalf("the second session cookie (the first is forged) reads views %d; want 1", v)
	}
	// Over TLS the cookie is the __Host- one: the plain name is not read.
	s = e.m.OpenRequest(t.Context(), h, true)
	if _, err := Get[int](s, "views"); !errors.Is(err, ErrNoValue) {
		t.Fatalf("over TLS the plain cookie was read: %v", err)
	}
	s.Set("a", 1)
	out := http.Header{}
	if err := s.Commit(out); err != nil {
		t.Fatal(err)
	}
	if c := out.Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-seshat=") || !strings.Contains(c, "Secure") {
		t.Fatalf("Set-Cookie over TLS = %q; want a Secure __Host- cookie", c)
	}
}
