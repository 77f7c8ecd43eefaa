package seshat

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"testing"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/seal"
	"github.com/seshat-go/seshat/store"
)

// overwrite puts raw bytes under name in the session of cookie, bypassing
// the codec (and encryption): what another program writing to the store
// would leave.
func (e *env) overwrite(cookie, name, raw string) {
	e.t.Helper()
	k, ok := e.m.HandleOf(cookie)
	if !ok {
		e.t.Fatal("cookie does not verify")
	}
	if _, err := e.m.store.Commit(context.Background(), k, &store.Delta{Now: e.clock.now(), Set: map[string][]byte{name: []byte(raw)}}); err != nil {
		e.t.Fatal(err)
	}
}

// TestIncrOnCorruptValue runs every corrupt-value policy on memstore; the
// conformance suite's G8 runs the default one on every store.
func TestIncrOnCorruptValue(t *testing.T) {
	for _, tc := range []struct {
		name      string
		encrypted bool
		raw       string
	}{
		{"a word", false, "abc"},
		{"a string the codec wrote", false, "s12"},
		{"empty", false, ""},
		{"beyond int64", false, "99999999999999999999"},
		{"encrypted: does not decrypt", true, "garbage"},
	} {
		for _, action := range []CorruptAction{DefaultAction, FailRequest, FreshSession} {
			t.Run(tc.name+"/"+map[CorruptAction]string{DefaultAction: "default", FailRequest: "fail", FreshSession: "fresh"}[action], func(t *testing.T) {
				reports := 0
				o := Options{Store: memstore.New(), OnCorrupt: func(c Corruption) CorruptAction {
					if c.Name != "views" {
						t.Errorf("corruption reported under %q; want views", c.Name)
					}
					reports++
					return action
				}}
				if tc.encrypted {
					ring, err := seal.NewRing(seal.NewKey())
					if err != nil {
						t.Fatal(err)
					}
					o.Encryption, o.HashKey = ring, []byte("hash-key-0123456789abcdef0123456789")
				}
				e := newEnv(t, o)
				c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
					s.Incr("views", 1)
					s.Set("other", "kept")
				}, "")).Value
				e.overwrite(c, "views", tc.raw)
				var n int64
				var err error
				resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
					n, err = s.Incr("views", 1)
				}, c)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if reports != 1 {
					t.Fatalf("the corrupt value was reported to OnCorrupt %d times; want once", reports)
				}
				if action == FailRequest {
					if !errors.Is(err, ErrDecode) {
						t.Fatalf("Incr with FailRequest = %d, %v; want ErrDecode", n, err)
					}
					return
				}
				if err != nil || n != 1 {
					t.Fatalf("Incr on a corrupt value = %d, %v; want 1 (replaced, as if absent)", n, err)
				}
				if action == FreshSession {
					set := sessionCookie(resp)
					if set == nil || set.Value == c {
						t.Fatal("FreshSession: no new session cookie")
					}
					e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
						if v, err := Get[int](s, "views"); v != 1 || err != nil {
							t.Errorf("views in the fresh session = %d, %v; want 1", v, err)
						}
						if _, err := Get[string](s, "other"); !errors.Is(err, ErrNoValue) {
							t.Errorf("the fresh session holds other: %v", err)
						}
					}, set.Value)
					return
				}
				e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
					if v, err := Get[int](s, "views"); v != 1 || err != nil {
						t.Errorf("views after = %d, %v; want 1", v, err)
					}
					if v, _ := Get[string](s, "other"); v != "kept" {
						t.Errorf("other after = %q; want kept", v)
					}
				}, c)
			})
		}
	}
}

func TestUpdateOnCorruptValue(t *testing.T) {
	e := newEnv(t, Options{})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("list", []string{"a"}) }, "")).Value
	e.overwrite(c, "list", "j{not json")
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		got, err := Update(s, "list", func(l []string) ([]string, error) { return append(l, "b"), nil })
		if err != nil || !slices.Equal(got, []string{"b"}) {
			t.Errorf("Update on a corrupt value = %v, %v; want [b] (replaced, as if absent)", got, err)
		}
	}, c)
}

// Values and names that seshat never writes (empty ones) must not panic any
// path that reads them.
func TestEmptyNamesAndValues(t *testing.T) {
	e := newEnv(t, Options{})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", "x") }, "")).Value
	e.overwrite(c, "", "s")
	e.overwrite(c, "empty", "")
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		keys, err := s.Keys()
		if err != nil || !slices.Equal(keys, []string{"a", "empty"}) {
			t.Errorf("Keys = %q, %v; want [a empty]", keys, err)
		}
		if _, err := Get[string](s, "empty"); !errors.Is(err, ErrNoValue) || !errors.Is(err, ErrDecode) {
			t.Errorf("Get of an empty value = %v; want ErrNoValue (skipped: ErrDecode)", err)
		}
		if n, err := s.Incr("empty", 2); n != 2 || err != nil {
			t.Errorf("Incr of an empty value = %d, %v; want 2", n, err)
		}
	}, c)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	k, _ := e.m.HandleOf(c)
	e.overwrite(c, "empty", "")
	snap, err := e.m.Inspect(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Values[""]; snap.Values["a"] != "x" || !ok {
		t.Errorf("Inspect values %v; want a and the empty name", snap.Values)
	}
	if v, _ := snap.Values["empty"].(string); v != "!cannot decode: empty value" {
		t.Errorf("Inspect shows an empty value as %q; want a clear mark", snap.Values["empty"])
	}
	if err := e.m.Revoke(context.Background(), k); err != nil {
		t.Fatalf("Revoke of a session with empty names and values: %v", err)
	}
}

func FuzzDecodeAny(f *testing.F) {
	for _, s := range []string{"", "1", "-", "s", "sx", "x", "b", "b1", "b2", "f", "f1e400", "t", "tnot a time", "j", "j{", "u", "u1", "\x00", "@"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeAny(b)
		if err == nil && v == nil && string(b) != "jnull" {
			t.Fatalf("decodeAny(%q) = nil, nil", b)
		}
		var s string
		_ = decodeInto(b, &s)
		var n int64
		_ = decodeInto(b, &n)
	})
}

// FuzzStoredRecord: whatever another program leaves in a session (names and
// values seshat never writes) goes through every path that reads it, the
// administrative ones too, without a panic and without an error beyond
// "no such value" or "cannot decode" (FailRequest not chosen).
func FuzzStoredRecord(f *testing.F) {
	f.Add("views", "abc", "", "", false)
	f.Add("", "s", "empty", "", false)
	f.Add("\x00user", "garbage", "@x", "1", true)
	f.Add("n", "99999999999999999999", "j", "j{", false)
	f.Add("list", "j[1,2", "t", "tnot a time", true)
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string, encrypted bool) {
		o := Options{Logger: quietLogger()}
		if encrypted { // the stored values are then not even ciphertexts
			ring, err := seal.NewRing(seal.NewKey())
			if err != nil {
				t.Fatal(err)
			}
			o.Encryption, o.HashKey = ring, []byte("hash-key-0123456789abcdef0123456789")
		}
		e := newEnv(t, o)
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			s.Set("a", "x")
			s.SetUser("fuzz")
		}, "")).Value
		e.overwrite(c, n1, v1)
		e.overwrite(c, n2, v2)
		k, _ := e.m.HandleOf(c)
		ctx := context.Background()
		if _, err := e.m.Inspect(ctx, k); err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		if _, err := e.m.UserSessions(ctx, "fuzz"); err != nil {
			t.Fatalf("UserSessions: %v", err)
		}
		if err := e.m.Sessions(ctx, func([]SessionInfo) error { return nil }); err != nil {
			t.Fatalf("Sessions: %v", err)
		}
		if encrypted {
			if _, err := e.m.Rekey(ctx); err != nil {
				t.Fatalf("Rekey: %v", err)
			}
		}
		if err := e.m.Edit(ctx, k, func(s *Session) error {
			keys, err := s.Keys()
			if err != nil {
				return err
			}
			for _, name := range keys {
				if _, err := Get[string](s, name); err != nil && !errors.Is(err, ErrNoValue) && !errors.Is(err, ErrInvalidKey) {
					return err
				}
			}
			return s.Set("edited", true)
		}); err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrEnded) { // ended: OnCorrupt chose a fresh session
			t.Fatalf("Edit: %v", err)
		}
		resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			keys, err := s.Keys()
			if err != nil {
				t.Fatalf("Keys: %v", err)
			}
			for _, name := range append(keys, n1, n2) {
				if _, err := Get[string](s, name); err != nil && !errors.Is(err, ErrNoValue) && !errors.Is(err, ErrInvalidKey) {
					t.Errorf("Get[string](%q): %v", name, err)
				}
				if _, err := Get[int](s, name); err != nil && !errors.Is(err, ErrNoValue) && !errors.Is(err, ErrInvalidKey) {
					t.Errorf("Get[int](%q): %v", name, err)
				}
				if _, err := Update(s, name, func(v []int) ([]int, error) { return append(v, 1), nil }); err != nil && !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrTooLarge) {
					t.Errorf("Update(%q): %v", name, err)
				}
				if _, err := s.Incr(name, 1); err != nil && !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrTooLarge) {
					t.Errorf("Incr(%q): %v", name, err)
				}
			}
		}, c)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if err := e.m.Revoke(ctx, k); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if _, err := e.m.RevokeUser(ctx, "fuzz"); err != nil {
			t.Fatalf("RevokeUser: %v", err)
		}
	})
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
