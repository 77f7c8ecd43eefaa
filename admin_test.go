package seshat

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func login(e *env, user string) string {
	return sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		s.Regenerate()
		s.SetUser(user)
		s.Set("n", 0)
	}, "")).Value
}

func whoami(e *env, cookie string) string {
	var u string
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { u, _ = s.User() }, cookie)
	return u
}

func TestUserSessionsAndRevocation(t *testing.T) {
	e := newEnv(t, Options{})
	var bob []string
	for range 3 {
		e.clock.add(time.Second)
		bob = append(bob, login(e, "bob"))
	}
	ann := login(e, "ann")
	anon := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("x", 1) }, "")).Value

	infos, err := e.m.UserSessions(t.Context(), "bob")
	if err != nil || len(infos) != 3 {
		t.Fatalf("UserSessions(bob) = %d, %v", len(infos), err)
	}
	for i, in := range infos {
		if k, _ := e.m.HandleOf(bob[i]); in.Handle != k || in.User != "bob" || in.ExpiresAt.IsZero() || in.LastSeen.IsZero() {
			t.Errorf("info %d = %+v", i, in)
		}
		if _, _, ok := e.m.signer.verify(in.Handle); ok || in.Handle == bob[i][:idLen] {
			t.Fatal("a handle works as a cookie")
		}
	}
	var all int
	e.m.Sessions(t.Context(), func(b []SessionInfo) error { all += len(b); return nil })
	if all != 5 {
		t.Fatalf("Sessions listed %d; want 5", all)
	}

	if err := e.m.Revoke(t.Context(), infos[0].Handle); err != nil {
		t.Fatal(err)
	}
	if whoami(e, bob[0]) != "" || whoami(e, bob[1]) != "bob" {
		t.Fatal("Revoke did not end exactly the one session")
	}
	n, err := e.m.RevokeUser(t.Context(), "bob")
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser = %d, %v", n, err)
	}
	for _, c := range bob {
		if whoami(e, c) != "" {
			t.Fatal("a session of bob survived RevokeUser")
		}
	}
	if whoami(e, ann) != "ann" {
		t.Fatal("RevokeUser(bob) ended ann's session")
	}
	if err := e.m.Edit(t.Context(), infos[1].Handle, func(*Session) error { return nil }); !errors.Is(err, ErrNoSuchSession) {
		t.Fatalf("Edit of a revoked session = %v", err)
	}
	_ = anon
}

func TestRevokeOthers(t *testing.T) {
	e := newEnv(t, Options{})
	a, b, c := login(e, "bob"), login(e, "bob"), login(e, "bob")
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if n, err := s.RevokeOthers(); n != 2 || err != nil {
			t.Errorf("RevokeOthers = %d, %v", n, err)
		}
	}, b)
	if whoami(e, a) != "" || whoami(e, c) != "" || whoami(e, b) != "bob" {
		t.Fatal("RevokeOthers must end the other sessions and keep this one")
	}
}

func TestEditRacingRequests(t *testing.T) {
	e := newEnv(t, Options{})
	c := login(e, "bob")
	handle, _ := e.m.HandleOf(c)
	h := e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		if _, err := s.Incr("n", 1); err != nil {
			t.Error(err)
		}
	}))
	var wg sync.WaitGroup
	for i := range 51 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 25 {
				err := e.m.Edit(t.Context(), handle, func(s *Session) error {
					if err := s.Set("role", "admin"); err != nil {
						return err
					}
					_, err := s.Incr("n", 1000)
					return err
				})
				if err != nil {
					t.Errorf("Edit: %v", err)
				}
				return
			}
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(&http.Cookie{Name: "seshat", Value: c})
			h.ServeHTTP(httptest.NewRecorder(), req)
		}()
	}
	wg.Wait()
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		n, _ := Get[int](s, "n")
		role, _ := Get[string](s, "role")
		if n != 1050 || role != "admin" {
			t.Errorf("after an edit racing 50 requests: n=%d role=%q; want 1050 and admin", n, role)
		}
	}, c)
	snap, err := e.m.Inspect(t.Context(), handle)
	if err != nil || snap.Values["role"] != "admin" || snap.Values["n"] != int64(1050) || snap.User != "bob" {
		t.Fatalf("Inspect = %+v, %v", snap, err)
	}
}
