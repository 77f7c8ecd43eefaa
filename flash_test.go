package seshat

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/seal"
)

func TestFlashIsShownOnce(t *testing.T) {
	e := newEnv(t, Options{})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := s.Flash("notice", "saved"); err != nil {
			t.Fatal(err)
		}
		if err := s.Flash("@bad", 1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Flash under a reserved name = %v; want ErrInvalidKey", err)
		}
	}, "")).Value
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if keys, _ := s.Keys(); len(keys) != 0 {
			t.Errorf("a flash shows among the values: %q", keys)
		}
		if _, err := Get[string](s, "notice"); !errors.Is(err, ErrNoValue) {
			t.Errorf("Get of a flash's key = %v; want ErrNoValue (flashes are not values)", err)
		}
		if v, err := Pop[string](s, "notice"); err != nil || v != "saved" {
			t.Errorf("Pop = %q, %v; want saved", v, err)
		}
		if _, err := Pop[string](s, "notice"); !errors.Is(err, ErrNoValue) {
			t.Errorf("a second Pop in the same request = %v; want ErrNoValue", err)
		}
	}, c)
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if _, err := Pop[string](s, "notice"); !errors.Is(err, ErrNoValue) {
			t.Errorf("Pop on the next request = %v; want ErrNoValue (shown once)", err)
		}
	}, c)
}

func TestFlashPoppedInTheSameRequestNeverReachesTheStore(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, Options{Store: cs})
	resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		s.Flash("n", 7)
		if v, err := Pop[int](s, "n"); err != nil || v != 7 {
			t.Errorf("Pop of this request's flash = %d, %v", v, err)
		}
	}, "")
	if n := cs.calls.Load(); n != 0 || sessionCookie(resp) != nil {
		t.Fatalf("a flash popped by the request that set it: %d store calls, cookie %v; want none", n, sessionCookie(resp))
	}
}

func TestFlashOfTheWrongTypeIsNotPopped(t *testing.T) {
	e := newEnv(t, Options{})
	c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Flash("n", "text") }, "")).Value
	e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if _, err := Pop[int](s, "n"); !errors.Is(err, ErrNoValue) || !errors.Is(err, ErrDecode) {
			t.Errorf("Pop[int] of a string = %v; want ErrNoValue and ErrDecode (skipped)", err)
		}
		if v, err := Pop[string](s, "n"); err != nil || v != "text" {
			t.Errorf("Pop[string] after a skipped Pop[int] = %q, %v; want the flash, kept", v, err)
		}
	}, c)
}

// TestFiftyParallelPopsGiveOneFlash: however many tabs reload at once, a
// flash is shown once.
func TestFiftyParallelPopsGiveOneFlash(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		var e *env
		if encrypted {
			e = encryptedEnv(t, nil, seal.NewKey())
		} else {
			e = newEnv(t, Options{})
		}
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("views", 1) }, "")).Value
		for round := range 20 {
			e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Flash("notice", round) }, c)
			var got atomic.Int64
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Go(func() {
					e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
						s.Set("k"+string(rune('A'+i%26)), i) // pending changes ride along
						v, err := Pop[int](s, "notice")
						switch {
						case err == nil && v == round:
							got.Add(1)
						case !errors.Is(err, ErrNoValue):
							t.Errorf("Pop = %d, %v", v, err)
						}
					}, c)
				})
			}
			wg.Wait()
			if n := got.Load(); n != 1 {
				t.Fatalf("encrypted %v, round %d: %d of 50 parallel pops got the flash; want exactly 1", encrypted, round, n)
			}
		}
	}
}
