package seshat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// TestRememberMe runs on memstore; the store's part (a commit that changes
// the idle timeout and lifetime) is a case of the conformance suite's G6,
// run on every store.
func TestRememberMe(t *testing.T) {
	{
		{
			e := newEnv(t, Options{Store: memstore.New()})
			login := func(remember bool) string {
				resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
					s.Regenerate()
					s.SetUser("erin")
					if remember {
						if err := s.SetExpiry(30*24*time.Hour, 30*24*time.Hour); err != nil {
							t.Fatal(err)
						}
					}
				}, "")
				c := sessionCookie(resp)
				if want := map[bool]int{true: 30 * 24 * 3600, false: 24 * 3600}[remember]; c.MaxAge < want-1 || c.MaxAge > want {
					t.Errorf("remember %v: cookie Max-Age %d; want %d", remember, c.MaxAge, want)
				}
				return c.Value
			}
			normal, remembered := login(false), login(true)
			// An existing session can be switched to remember-me too.
			later := login(false)
			resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
				if err := s.SetExpiry(7*24*time.Hour, 7*24*time.Hour); err != nil {
					t.Fatal(err)
				}
			}, later)
			if c := sessionCookie(resp); c == nil || c.MaxAge < 7*24*3600-1 {
				t.Fatalf("SetExpiry on a stored session: cookie %v; want Max-Age of 7 days", c)
			}
			e.clock.add(2 * time.Hour) // far beyond the default 30-minute idle timeout
			if whoami(e, normal) != "" {
				t.Fatal("a normal session outlived the idle timeout")
			}
			if whoami(e, remembered) != "erin" || whoami(e, later) != "erin" {
				t.Fatal("a remember-me session did not outlive the default idle timeout")
			}
			e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
				if err := s.SetExpiry(365*24*time.Hour, 0); !errors.Is(err, ErrExpiry) {
					t.Errorf("SetExpiry beyond MaxIdleTimeout = %v; want ErrExpiry", err)
				}
			}, remembered)
		}
	}
}

func TestCorruptValuePolicies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action CorruptAction
	}{{"default: skip", DefaultAction}, {"drop", DropValue}, {"fresh session", FreshSession}, {"fail", FailRequest}} {
		t.Run(tc.name, func(t *testing.T) {
			var seen []Corruption
			var counted int
			e := newEnv(t, Options{
				OnCorrupt: func(c Corruption) CorruptAction { seen = append(seen, c); return tc.action },
				Observer: observerFunc(func(ev Event) {
					if ev.Kind == EventCorrupt {
						counted++
					}
				}),
			})
			c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
				s.Set("profile", map[string]int{"age": 3})
				s.Set("other", "kept")
			}, "")).Value
			// The type of "profile" changed in a new release.
			var err error
			e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
				_, err = Get[struct{ Age string }](s, "profile")
			}, c)
			if len(seen) != 1 || seen[0].Name != "profile" || counted != 1 {
				t.Fatalf("hook saw %+v, %d counted; want one report for profile", seen, counted)
			}
			present := func() (profile, other bool) {
				e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
					keys, _ := s.Keys()
					profile = strings.Contains(strings.Join(keys, ","), "profile")
					other = strings.Contains(strings.Join(keys, ","), "other")
				}, c)
				return
			}
			p, o := present()
			switch tc.action {
			case DefaultAction:
				if !errors.Is(err, ErrNoValue) || !errors.Is(err, ErrDecode) || !p || !o {
					t.Fatalf("skip: err %v, profile kept %v, other kept %v", err, p, o)
				}
			case DropValue:
				if !errors.Is(err, ErrNoValue) || p || !o {
					t.Fatalf("drop: err %v, profile kept %v, other kept %v", err, p, o)
				}
			case FreshSession:
				if !errors.Is(err, ErrNoValue) || p || o {
					t.Fatalf("fresh: err %v, profile kept %v, other kept %v", err, p, o)
				}
			case FailRequest:
				if errors.Is(err, ErrNoValue) || !errors.Is(err, ErrDecode) || !p || !o {
					t.Fatalf("fail: err %v, profile kept %v, other kept %v", err, p, o)
				}
			}
			if tc.action != FailRequest && StatusCode(err) == http.StatusInternalServerError && !errors.Is(err, ErrNoValue) {
				t.Fatal("the default answered 500 for corrupt data")
			}
		})
	}
}

// corruptLoads is a store whose Load reports store.ErrCorrupt once
// corrupt is set: what a store answers for a record it cannot read (a
// future format, foreign data).
type corruptLoads struct {
	store.Store
	corrupt atomic.Bool
}

func (c *corruptLoads) Load(ctx context.Context, k string, o store.LoadOptions) (*store.Record, error) {
	if c.corrupt.Load() {
		return nil, fmt.Errorf("corruptLoads: metadata of an unknown format version: %w", store.ErrCorrupt)
	}
	return c.Store.Load(ctx, k, o)
}

func TestCorruptRecordPolicies(t *testing.T) {
	for _, action := range []CorruptAction{DefaultAction, FailRequest} {
		st := &corruptLoads{Store: memstore.New()}
		e := newEnv(t, Options{Store: st, OnCorrupt: func(Corruption) CorruptAction { return action }})
		c := sessionCookie(e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) { s.Set("a", 1) }, "")).Value
		st.corrupt.Store(true)
		resp := e.serve(func(w http.ResponseWriter, r *http.Request, s *Session) {
			_, err := Get[int](s, "a")
			if action == FailRequest && !errors.Is(err, ErrDecode) {
				t.Errorf("fail on a future record: %v", err)
			}
			if action == DefaultAction && !errors.Is(err, ErrNoValue) {
				t.Errorf("default on a future record: %v; want a fresh session", err)
			}
		}, c)
		if action == DefaultAction && resp.StatusCode != 200 {
			t.Fatalf("default on a future record answered %d", resp.StatusCode)
		}
	}
}
