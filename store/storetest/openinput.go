package storetest

// The cases of RunOpen about what a session is given: reads (G5), tokens
// (G7), stored data (G8) and sizes (G9).

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

var openG5 = []testCase{
	{"through Open: a read-only session makes one store call and writes nothing", func(h *harness) {
		o := newOpener(h, false)
		tok := o.start()
		o.store.Snapshot()
		for range 5 {
			s := o.open(tok)
			if v, err := seshat.Get[int](s, "views"); err != nil || v != 1 {
				h.t.Fatalf("read: views %d, %v", v, err)
			}
			hdr := http.Header{}
			if err := s.Commit(hdr); err != nil || hdr.Get("Set-Cookie") != "" {
				h.t.Fatalf("Commit of a read-only session = %v, Set-Cookie %q; want nil and no cookie", err, hdr.Get("Set-Cookie"))
			}
			if s.Token() != tok {
				h.t.Fatalf("a read-only session's token changed")
			}
		}
		if calls := o.store.Snapshot(); calls["Load"] != 5 || len(calls) != 1 {
			h.t.Fatalf("G5 broken: 5 read-only sessions made store calls %v; want exactly 5 Loads", calls)
		}
	}},
}

var openG7 = []testCase{
	{"through Open: forged, empty and garbage tokens never reach the store and give a new session", func(h *harness) {
		o := newOpener(h, false)
		real := o.start()
		foreign := otherSecret(h)
		o.store.Snapshot()
		forged := []string{"", "x", "garbage", " ", "\x00", "a b", "..", strings.Repeat("é", 44),
			strings.Repeat("A", len(real)), real + "A", real[:len(real)-1], real[:43] + "." + real[:43], foreign}
		// One character changed, always to a different one: in the ID, at
		// the dot, in the signature.
		for _, i := range []int{0, 21, 42, 43, 44, 70, len(real) - 1} {
			forged = append(forged, real[:i]+flip(real[i])+real[i+1:])
		}
		for _, f := range forged {
			if f == real {
				h.t.Fatalf("a forgery equals the real token %q", real)
			}
			s := o.open(f)
			v, err := seshat.Get[int](s, "views")
			keys, kerr := s.Keys()
			if !errors.Is(err, seshat.ErrNoValue) || v != 0 || len(keys) != 0 || kerr != nil {
				h.t.Errorf("G7 broken: forged token %q reads views %d (%v), keys %v (%v); want a new, empty session", f, v, err, keys, kerr)
			}
			if err := s.Commit(nil); err != nil || s.Token() != "" {
				h.t.Errorf("forged token %q: Commit %v, token %q; want nil and no session stored", f, err, s.Token())
			}
		}
		if calls := o.store.Snapshot(); len(calls) != 0 {
			h.t.Fatalf("G7 broken: forged tokens reached the store through Open: %v", calls)
		}
		// With data, a forged token starts a session of its own.
		s := o.open(forged[len(forged)-1])
		s.Set("a", 1)
		o.commit(s)
		if tok := s.Token(); tok == "" || tok == real {
			h.t.Fatalf("G7 broken: a forged token's session committed under token %q (real %q)", tok, real)
		}
		if v, _ := seshat.Get[int](o.open(real), "views"); v != 1 {
			h.t.Fatalf("a forged token's session changed the real one: views %d", v)
		}
	}},
	{"through Open: a token the store does not know is never adopted", func(h *harness) {
		o := newOpener(h, false)
		tok := o.start()
		d := o.open(tok)
		if err := d.Destroy(); err != nil {
			h.t.Fatal(err)
		}
		o.commit(d)
		s := o.open(tok)
		if n, err := s.Incr("views", 1); err != nil || n != 1 {
			h.t.Fatalf("Incr on a dead token's session = %d, %v; want 1 (a new session)", n, err)
		}
		o.commit(s)
		if nt := s.Token(); nt == "" || nt == tok {
			h.t.Fatalf("G7 broken: a dead token's session committed under token %q (dead %q); "+
				"want a fresh one (adopting a known ID allows session fixation)", nt, tok)
		}
		h.goneNow(o.handle(tok), "a commit on a dead token")
	}},
	{"through Open: a session is created only by a Commit with data", func(h *harness) {
		o := newOpener(h, false)
		o.store.Snapshot()
		s := o.open("")
		if _, err := seshat.Get[int](s, "views"); !errors.Is(err, seshat.ErrNoValue) {
			h.t.Fatalf("a new session reads views: %v", err)
		}
		o.commit(s)
		s = o.open("")
		s.Set("a", 1)
		s.Delete("a")
		o.commit(s)
		if calls := o.store.Snapshot(); len(calls) != 0 || s.Token() != "" {
			h.t.Fatalf("new sessions holding nothing made store calls %v, token %q; want none", calls, s.Token())
		}
		s = o.open("")
		s.Set("a", 1)
		if _, err := s.Incr("n", 2); err != nil {
			h.t.Fatal(err)
		}
		if calls := o.store.Snapshot(); len(calls) != 0 || s.Token() != "" {
			h.t.Fatalf("a new session with changes before its Commit made store calls %v, token %q; want none", calls, s.Token())
		}
		hdr := http.Header{}
		if err := s.Commit(hdr); err != nil {
			h.t.Fatal(err)
		}
		tok := s.Token()
		if calls := o.store.Snapshot(); calls["Create"] != 1 || len(calls) != 1 {
			h.t.Fatalf("the Commit of a new session with data made store calls %v; want one Create", calls)
		}
		if tok == "" || !strings.Contains(hdr.Get("Set-Cookie"), tok) {
			h.t.Fatalf("a created session's token %q, Set-Cookie %q; want the token, in the cookie too", tok, hdr.Get("Set-Cookie"))
		}
		if got := h.stored(o.handle(tok)); len(got) != 2 || got["n"] != "2" || got["a"] == "" {
			h.t.Fatalf("the created session holds %v; want a and n=2", got)
		}
	}},
}

// otherSecret returns a token that a manager with another secret signed
// for a session it stored: well formed and valid, but not for this
// manager.
func otherSecret(h *harness) string {
	h.t.Helper()
	m, err := seshat.New(seshat.Options{Store: h.s, Secrets: [][]byte{[]byte("storetest-other-secret-0123456789")}})
	if err != nil {
		h.t.Fatal(err)
	}
	s := m.Open(h.ctx(), "")
	s.Set("views", 7)
	if err := s.Commit(nil); err != nil {
		h.t.Fatal(err)
	}
	return s.Token()
}

var openG8 = []testCase{
	{"through Open: stored data that cannot be decoded gives errors, never a panic", func(h *harness) {
		for _, encrypted := range []bool{false, true} {
			o := newOpener(h, encrypted)
			tok := o.start()
			key := o.handle(tok)
			s := o.open(tok)
			s.Set("other", "kept")
			s.Set("when", time.Now())
			s.Set("profile", map[string]int{"age": 3})
			s.Flash("notice", "saved")
			s.SetUser("ann")
			o.commit(s)
			// Whatever else Flash and SetUser stored (under names of
			// seshat's own) is overwritten too.
			var internal []string
			for name := range h.stored(key) {
				switch name {
				case "views", "other", "when", "profile":
				default:
					internal = append(internal, name)
				}
			}
			for _, raw := range []string{"abc", "", "s12", "99999999999999999999", "1.5", "\xff\x00", "j{", "tnot a time", "b2"} {
				set := map[string][]byte{"views": []byte(raw), "when": []byte(raw), "profile": []byte(raw)}
				for _, name := range internal {
					set[name] = []byte(raw)
				}
				h.mustCommit(key, &store.Delta{Now: time.Now(), Set: set})
				what := fmt.Sprintf("the stored value %q (encryption %v)", raw, encrypted)
				mustNotPanic(h, what, func() {
					s := o.open(tok)
					if _, err := seshat.Get[int](s, "views"); !errors.Is(err, seshat.ErrDecode) {
						h.t.Errorf("G8 broken: Get[int] of %s = %v; want seshat.ErrDecode", what, err)
					}
					if _, err := seshat.Get[time.Time](s, "when"); !errors.Is(err, seshat.ErrDecode) {
						h.t.Errorf("G8 broken: Get[time.Time] of %s = %v; want seshat.ErrDecode", what, err)
					}
					if _, err := seshat.Get[map[string]int](s, "profile"); !errors.Is(err, seshat.ErrDecode) {
						h.t.Errorf("G8 broken: Get[map[string]int] of %s = %v; want seshat.ErrDecode", what, err)
					}
					if v, err := seshat.Get[string](s, "other"); v != "kept" {
						h.t.Errorf("beside %s, the session's other value reads %q, %v", what, v, err)
					}
					if _, err := s.Keys(); err != nil {
						h.t.Errorf("Keys beside %s: %v", what, err)
					}
					if len(internal) > 0 {
						if _, err := seshat.Pop[int](s, "notice"); !errors.Is(err, seshat.ErrDecode) {
							h.t.Errorf("G8 broken: Pop of a flash stored as %s = %v; want seshat.ErrDecode", what, err)
						}
					}
					if encrypted {
						if _, err := s.User(); !errors.Is(err, seshat.ErrDecode) {
							h.t.Errorf("G8 broken: User of %s = %v; want seshat.ErrDecode", what, err)
						}
					}
					// Read-modify-writes replace what they cannot read, as
					// if it were absent (Options.OnCorrupt's default).
					if n, err := s.Incr("views", 1); err != nil || n != 1 {
						h.t.Errorf("G8 broken: Incr of %s = %d, %v; want 1", what, n, err)
					}
					if m, err := seshat.Update(s, "profile", func(m map[string]int) (map[string]int, error) {
						return map[string]int{"age": len(m) + 4}, nil
					}); err != nil || m["age"] != 4 {
						h.t.Errorf("G8 broken: Update of %s = %v, %v; want age 4", what, m, err)
					}
					if err := s.Commit(nil); err != nil {
						h.t.Errorf("Commit beside %s: %v", what, err)
					}
				})
			}
		}
	}},
}

// mustNotPanic runs f and fails the case if it panics: corrupt data is
// untrusted input.
func mustNotPanic(h *harness, what string, f func()) {
	h.t.Helper()
	defer func() {
		if p := recover(); p != nil {
			h.t.Fatalf("G8 broken: %s made seshat panic: %v", what, p)
		}
	}()
	f()
}

var openG9 = []testCase{
	{"through Open: a value beyond the session size limit fails and nothing of it is stored", func(h *harness) {
		for _, encrypted := range []bool{false, true} {
			o := newOpener(h, encrypted)
			big := strings.Repeat("x", appMaxSessionBytes+1)
			what := encryptedName(encrypted)

			s := o.open("")
			if err := s.Set("big", big); !errors.Is(err, seshat.ErrTooLarge) {
				h.t.Fatalf("G9 broken%s: Set of an oversized value in a new session = %v; want seshat.ErrTooLarge", what, err)
			}
			o.store.Snapshot()
			o.commit(s)
			if calls := o.store.Snapshot(); len(calls) != 0 || s.Token() != "" {
				h.t.Fatalf("G9 broken%s: a new session whose only value was refused made store calls %v, token %q", what, calls, s.Token())
			}

			tok := o.start()
			s = o.open(tok)
			seshat.Get[int](s, "views")
			if err := s.Set("big", big); !errors.Is(err, seshat.ErrTooLarge) {
				h.t.Fatalf("G9 broken%s: Set of an oversized value in a session read first = %v; want seshat.ErrTooLarge", what, err)
			}
			o.commit(s)

			// Without a read, the limit is the store's to check, at the
			// Commit, and it refuses all of it.
			s = o.open(tok)
			err := s.Set("small", "y")
			if err == nil {
				if err = s.Set("big", big); err == nil {
					err = s.Commit(nil)
				}
			}
			if !errors.Is(err, seshat.ErrTooLarge) {
				h.t.Fatalf("G9 broken%s: an oversized value without a read = %v; want seshat.ErrTooLarge at Set or Commit", what, err)
			}
			keys, err := o.open(tok).Keys()
			if err != nil || strings.Join(keys, ",") != "views" {
				h.t.Fatalf("G9 broken%s: after the refused changes the session holds %v (%v); want views only", what, keys, err)
			}
		}
	}},
}
