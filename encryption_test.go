package seshat

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/seal"
	"github.com/seshat-go/seshat/store"
)

var testHashKey = []byte("test-hash-key-0123456789abcdef0123456")

func encryptedEnv(t *testing.T, st *memstore.Store, keys ...[]byte) *env {
	ring, err := seal.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Encryption: ring, HashKey: testHashKey}
	if st != nil {
		o.Store = st
	}
	return newEnv(t, o)
}

func TestEncryptionNeedsHashKey(t *testing.T) {
	ring, _ := seal.NewRing(seal.NewKey())
	if _, err := New(Options{Secrets: [][]byte{testSecret}, Encryption: ring}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("New with encryption and no HashKey = %v", err)
	}
}

func TestNothingReadableAtRest(t *testing.T) {
	e := encryptedEnv(t, nil, seal.NewKey())
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		s.Regenerate()
		s.SetUser("alice@example.com")
		s.Set("card", "4111-1111-1111-1111")
		s.Incr("views", 41)
	}, "")
	c := sessionCookie(resp)
	key, _ := e.m.HandleOf(c.Value)
	rec, err := e.store.Load(t.Context(), key, store.LoadOptions{Now: e.clock.now()})
	if err != nil {
		t.Fatal(err)
	}
	if rec.User == "alice@example.com" || rec.User == "" {
		t.Fatalf("the store holds user %q; want a keyed hash", rec.User)
	}
	for name, v := range rec.Values {
		for _, secret := range []string{"alice", "4111", "41", c.Value[:43]} {
			if bytes.Contains(v, []byte(secret)) {
				t.Errorf("value %q holds %q in plaintext", name, secret)
			}
		}
	}
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		u, _ := s.User()
		card, _ := Get[string](s, "card")
		n, err := s.Incr("views", 1)
		if u != "alice@example.com" || card != "4111-1111-1111-1111" || n != 42 || err != nil {
			t.Errorf("reading back: user %q card %q views %d %v", u, card, n, err)
		}
		if keys, _ := s.Keys(); len(keys) != 2 {
			t.Errorf("Keys() = %v; the sealed user ID is internal", keys)
		}
	}, c.Value)
	// The user index works on the keyed hash.
	infos, err := e.store.UserSessions(t.Context(), e.m.UserKey("alice@example.com"), e.clock.now())
	if err != nil || len(infos) != 1 {
		t.Fatalf("UserSessions by token = %v, %v", infos, err)
	}
}

func TestCiphertextMovedToAnotherSessionFails(t *testing.T) {
	e := encryptedEnv(t, nil, seal.NewKey())
	mk := func(role string) (string, string) {
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("role", role) }, ""))
		k, _ := e.m.HandleOf(c.Value)
		return c.Value, k
	}
	_, adminKey := mk("admin")
	userCookie, userKey := mk("user")
	admin, _ := e.store.Load(t.Context(), adminKey, store.LoadOptions{Now: e.clock.now()})
	user, _ := e.store.Load(t.Context(), userKey, store.LoadOptions{Now: e.clock.now()})
	// An attacker with write access to the store copies the admin's role
	// into their own session, and the role into another name.
	_, err := e.store.Commit(t.Context(), userKey, &store.Delta{Now: e.clock.now(), Set: map[string][]byte{
		"role": admin.Values["role"], "nickname": user.Values["role"],
	}})
	if err != nil {
		t.Fatal(err)
	}
	var corrupt int
	e.m.opts.Observer = observerFunc(func(ev Event) {
		if ev.Kind == EventCorrupt {
			corrupt++
		}
	})
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		for _, name := range []string{"role", "nickname"} {
			v, err := Get[string](s, name)
			if !errors.Is(err, ErrDecode) || !errors.Is(err, seal.ErrOpen) {
				t.Errorf("Get(%s) of a moved ciphertext = %q, %v; want ErrDecode wrapping seal.ErrOpen", name, v, err)
			}
		}
	}, userCookie)
	if corrupt != 2 {
		t.Errorf("%d corrupt events reported; want 2", corrupt)
	}
}

type observerFunc func(Event)

func (f observerFunc) Observe(e Event) { f(e) }

func TestEncryptionKeyRotation(t *testing.T) {
	old, cur := seal.NewKey(), seal.NewKey()
	e1 := encryptedEnv(t, nil, old)
	c := sessionCookie(e1.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		s.Set("a", "first")
		s.SetUser("bob")
	}, ""))
	// Restart with the new key first: everything stays readable, new
	// writes use the new key.
	e2 := encryptedEnv(t, e1.store, cur, old)
	e2.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		a, err := Get[string](s, "a")
		u, _ := s.User()
		if a != "first" || u != "bob" || err != nil {
			t.Errorf("after rotation: a=%q user=%q %v", a, u, err)
		}
		s.Set("b", "second")
	}, c.Value)
	key, _ := e2.m.HandleOf(c.Value)
	rec, _ := e2.store.Load(t.Context(), key, store.LoadOptions{Now: time.Now()})
	ring := e2.m.opts.Encryption.(*seal.Ring)
	if ring.Current(rec.Values["a"]) || !ring.Current(rec.Values["b"]) {
		t.Fatal("old value should still be under the old key and the new one under the new key")
	}
	// Infos by user survive rotation: the user token does not depend on
	// the encryption keys.
	if infos, _ := e2.store.UserSessions(t.Context(), e2.m.UserKey("bob"), time.Now()); len(infos) != 1 {
		t.Fatalf("user index after rotation: %v", infos)
	}
}

func TestRegenerateWithEncryption(t *testing.T) {
	e := encryptedEnv(t, nil, seal.NewKey())
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("cart", 3) }, ""))
	nc := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		s.Set("pending", "x")
		if err := s.Regenerate(); err != nil {
			t.Fatal(err)
		}
		s.SetUser("bob")
	}, c.Value))
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		cart, err1 := Get[int](s, "cart")
		p, err2 := Get[string](s, "pending")
		u, err3 := s.User()
		if cart != 3 || p != "x" || u != "bob" || err1 != nil || err2 != nil || err3 != nil {
			t.Errorf("after Regenerate: cart %d %v, pending %q %v, user %q %v", cart, err1, p, err2, u, err3)
		}
	}, nc.Value)
}

func TestRekey(t *testing.T) {
	old, cur := seal.NewKey(), seal.NewKey()
	e1 := encryptedEnv(t, nil, old)
	var cookies []string
	for i := range 30 {
		c := sessionCookie(e1.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			s.Set("n", i)
			s.SetUser("bob")
		}, ""))
		cookies = append(cookies, c.Value)
	}
	e2 := encryptedEnv(t, e1.store, cur, old)
	st, err := e2.m.Rekey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 30 || st.Changed != 30 || st.Values != 90 || st.Failed != 0 {
		t.Fatalf("Rekey = %+v; want 30 sessions, 90 values (n, the user, the device)", st)
	}
	// With the old key retired, everything still reads.
	e3 := encryptedEnv(t, e1.store, cur)
	for i, c := range cookies {
		e3.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			n, err := Get[int](s, "n")
			u, err2 := s.User()
			if n != i || u != "bob" || err != nil || err2 != nil {
				t.Errorf("session %d after rekey and retiring the old key: n=%d %v user=%q %v", i, n, err, u, err2)
			}
		}, c)
	}
	if st, _ := e3.m.Rekey(t.Context()); st.Values != 0 {
		t.Fatalf("second Rekey changed %d values", st.Values)
	}
}
