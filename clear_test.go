package seshat

import (
	"net/http"
	"slices"
	"testing"

	"github.com/seshat-go/seshat/seal"
)

func TestClearKeepsTheSessionAndItsUser(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		var e *env
		if encrypted {
			e = encryptedEnv(t, nil, seal.NewKey())
		} else {
			e = newEnv(t, Options{})
		}
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			s.Regenerate()
			s.SetUser("ann")
			s.Set("a", 1)
			s.Set("b", "two")
		}, "")).Value
		handle, _ := e.m.HandleOf(c)
		resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			s.Set("pending", 1) // set before Clear: cleared too
			if err := s.Clear(); err != nil {
				t.Fatal(err)
			}
			if keys, _ := s.Keys(); len(keys) != 0 {
				t.Errorf("encrypted %v: keys right after Clear: %q", encrypted, keys)
			}
			s.Set("after", 3) // set after Clear: kept
		}, c)
		if set := sessionCookie(resp); set != nil {
			t.Errorf("encrypted %v: Clear sent a cookie %v; the session keeps its ID", encrypted, set)
		}
		e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			keys, _ := s.Keys()
			user, _ := s.User()
			if !slices.Equal(keys, []string{"after"}) || user != "ann" || s.Handle() != handle {
				t.Errorf("encrypted %v: after Clear: keys %q, user %q, handle %q (was %q); want [after], ann, the same session",
					encrypted, keys, user, s.Handle(), handle)
			}
		}, c)
	}
}
