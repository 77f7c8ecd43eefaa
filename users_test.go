package seshat

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat/seal"
	"github.com/seshat-go/seshat/store"
)

// rawSession is what the store holds for a cookie's session.
func rawSession(t *testing.T, e *env, cookie string) *store.Record {
	t.Helper()
	h, ok := e.m.HandleOf(cookie)
	if !ok {
		t.Fatalf("cookie %q does not verify", cookie)
	}
	rec, err := e.store.Load(t.Context(), h, store.LoadOptions{Now: e.clock.now(), TouchAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestNoUserIDAtRestWithoutEncryption(t *testing.T) {
	for _, hashKey := range [][]byte{nil, []byte("hash-key-0123456789abcdef0123456789")} {
		e := newEnv(t, Options{HashKey: hashKey, Events: true})
		events := make(chan LifecycleEvent, 10)
		ctx := t.Context()
		go e.m.Listen(ctx, func(ev LifecycleEvent) { events <- ev }, time.Hour)
		time.Sleep(50 * time.Millisecond) // the listener follows from now on
		const user = "zelda@example.com"
		c := login(e, user)
		rec := rawSession(t, e, c)
		if rec.User == "" || rec.User != e.m.UserKey(user) || strings.Contains(rec.User, "zelda") {
			t.Fatalf("stored user %q; want UserKey(user) %q", rec.User, e.m.UserKey(user))
		}
		for name, v := range rec.Values {
			if strings.Contains(string(v), "zelda") {
				t.Fatalf("value %q holds the user ID in the clear: %q", name, v)
			}
		}
		if got := whoami(e, c); got != user {
			t.Fatalf("User() = %q", got)
		}
		if infos, _ := e.m.UserSessions(ctx, user); len(infos) != 1 || infos[0].User != user {
			t.Fatalf("UserSessions: %+v", infos)
		}
		if _, err := e.m.RevokeUser(ctx, user); err != nil {
			t.Fatal(err)
		}
		for ev := range events {
			if strings.Contains(ev.User, "zelda") {
				t.Fatalf("event %+v names the user", ev)
			}
			if ev.Kind == store.Destroyed {
				if ev.User != e.m.UserKey(user) {
					t.Fatalf("destroyed event's user %q; want UserKey", ev.User)
				}
				break
			}
		}
	}
	// The key is keyed: two hash keys, two different user keys.
	a := newEnv(t, Options{HashKey: []byte("hash-key-a-0123456789abcdef0123456789")})
	b := newEnv(t, Options{HashKey: []byte("hash-key-b-0123456789abcdef0123456789")})
	if a.m.UserKey("bob") == b.m.UserKey("bob") || a.m.UserKey("bob") == a.m.UserKey("ann") || a.m.UserKey("") != "" {
		t.Fatal("UserKey is not keyed by HashKey, or not one per user")
	}
}

func TestUserIDsInClear(t *testing.T) {
	e := newEnv(t, Options{UserIDsInClear: true})
	c := login(e, "bob")
	if rec := rawSession(t, e, c); rec.User != "bob" || rec.Values[userValue] != nil {
		t.Fatalf("UserIDsInClear: stored user %q, values %q", rec.User, rec.Values)
	}
	if whoami(e, c) != "bob" || e.m.UserKey("bob") != "bob" {
		t.Fatal("UserIDsInClear: the user does not read back")
	}
	_, err := New(Options{Secrets: [][]byte{testSecret}, UserIDsInClear: true, HashKey: []byte("hash-key-0123456789abcdef0123456789"),
		Encryption: mustRing(t, seal.NewKey())})
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("UserIDsInClear with Encryption: %v; want ErrInvalidOptions", err)
	}
}

func mustRing(t *testing.T, keys ...[]byte) *seal.Ring {
	r, err := seal.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Turning encryption on keeps every user logged in: the user IDs sealed
// under the HashKey's derived key still open, and Rekey moves them to the
// ring.
func TestEncryptionTurnedOnKeepsUsers(t *testing.T) {
	hk := []byte("hash-key-0123456789abcdef0123456789")
	plain := newEnv(t, Options{HashKey: hk})
	c := login(plain, "bob")
	key := seal.NewKey()
	enc := newEnv(t, Options{HashKey: hk, Store: plain.store, Encryption: mustRing(t, key)})
	if got := whoami(enc, c); got != "bob" {
		t.Fatalf("after turning encryption on, User() = %q", got)
	}
	st, err := enc.m.Rekey(t.Context())
	// The user and the device move to the ring; "n", stored in the
	// clear before encryption was on, is no sealed value at all.
	if err != nil || st.Failed != 1 || st.Values != 2 {
		t.Fatalf("Rekey = %+v, %v", st, err)
	}
	// Now only the ring opens them.
	h, _ := enc.m.HandleOf(c)
	if _, err := plain.m.inner.derived.Open(h, userValue, rawSession(t, enc, c).Values[userValue]); err == nil {
		t.Fatal("after Rekey the user is still sealed under the derived key")
	}
	if got := whoami(enc, c); got != "bob" {
		t.Fatalf("after Rekey, User() = %q", got)
	}
}

func TestExportAndErase(t *testing.T) {
	e := newEnv(t, Options{Events: true})
	bob1 := login(e, "bob")
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("cart", []string{"tea", "cups"}) }, bob1)
	e.clock.add(time.Second) // oldest first
	login(e, "bob")
	ann := login(e, "ann")
	ex, err := e.m.ExportUser(t.Context(), "bob")
	if err != nil || ex.User != "bob" || len(ex.Sessions) != 2 {
		t.Fatalf("ExportUser(bob) = %+v, %v", ex, err)
	}
	for _, s := range ex.Sessions {
		if s.User != "bob" || s.Device == nil || s.Values["n"] != int64(0) {
			t.Fatalf("exported session %+v", s)
		}
		if _, ok := s.Values[userValue]; ok {
			t.Fatal("the export shows seshat's own values")
		}
	}
	if cart, _ := ex.Sessions[0].Values["cart"].([]any); len(cart) != 2 {
		t.Fatalf("exported cart %#v", ex.Sessions[0].Values["cart"])
	}
	st, err := e.m.EraseUser(t.Context(), "bob")
	if err != nil || st.Sessions != 2 {
		t.Fatalf("EraseUser(bob) = %+v, %v", st, err)
	}
	if whoami(e, bob1) != "" || whoami(e, ann) != "ann" {
		t.Fatal("EraseUser ended the wrong sessions")
	}
	if ex, _ := e.m.ExportUser(t.Context(), "bob"); len(ex.Sessions) != 0 {
		t.Fatalf("after EraseUser, the export holds %d sessions", len(ex.Sessions))
	}
	if _, err := e.m.ExportUser(t.Context(), ""); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("ExportUser(\"\"): %v", err)
	}
}

// Edit seals values for the session it names (it has a key and no ID).
func TestEditSetsUserAndSealedValues(t *testing.T) {
	for _, enc := range []bool{false, true} {
		o := Options{HashKey: []byte("hash-key-0123456789abcdef0123456789")}
		if enc {
			o.Encryption = mustRing(t, seal.NewKey())
		}
		e := newEnv(t, o)
		c := login(e, "bob")
		h, _ := e.m.HandleOf(c)
		err := e.m.Edit(t.Context(), h, func(s *Session) error {
			if err := s.SetUser("carol"); err != nil {
				return err
			}
			return s.Set("role", "admin")
		})
		if err != nil {
			t.Fatalf("encryption %v: Edit: %v", enc, err)
		}
		var role string
		e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { role, _ = Get[string](s, "role") }, c)
		if u := whoami(e, c); u != "carol" || role != "admin" {
			t.Fatalf("encryption %v: after Edit, user %q role %q", enc, u, role)
		}
	}
}
