package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, memstore.Options{}) })
}

func TestConformanceOpen(t *testing.T) {
	storetest.RunOpen(t, func(t *testing.T) store.Store { return newStore(t, memstore.Options{}) })
}

// newStore returns a store that the test closes when it ends.
func newStore(t *testing.T, opts memstore.Options) *memstore.Store {
	t.Helper()
	s, err := memstore.NewWithOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clock is a settable time for the sweeper.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func TestNewWithOptionsRejectsNegatives(t *testing.T) {
	for _, o := range []memstore.Options{{MaxSessions: -1}, {SweepInterval: -time.Second}} {
		if s, err := memstore.NewWithOptions(o); err == nil {
			s.Close()
			t.Errorf("NewWithOptions(%+v) succeeded; want an error", o)
		}
	}
}

func TestExpiredSessionsAreReclaimedBySweep(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx := t.Context()
	t0 := time.Now()
	for i := range 10000 {
		rec := viewCounter(t0)
		if i%10 == 0 {
			rec.User = fmt.Sprint("user", i%7)
		}
		if err := s.Create(ctx, fmt.Sprint("old", i), rec); err != nil {
			t.Fatal(err)
		}
	}
	moved := handle()
	s.Create(ctx, moved, viewCounter(t0))
	if _, err := s.Take(ctx, moved, t0); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 10000 {
		t.Fatalf("Len = %d; want 10000 (the moved marker is no session)", n)
	}
	// Two hours later every one of them is idle-expired, and the marker
	// has lapsed; one sweep reclaims them all without anyone loading them.
	later := t0.Add(2 * time.Hour)
	memstore.Sweep(s, later)
	if n := s.Len(); n != 0 {
		t.Fatalf("Len after a sweep = %d; want 0 (expired sessions must be reclaimed)", n)
	}
	if n := memstore.Entries(s); n != 0 {
		t.Fatalf("%d entries left after a sweep; want 0 (lapsed moved markers must be reclaimed too)", n)
	}
	if infos, err := s.UserSessions(ctx, "user0", later); err != nil || len(infos) != 0 {
		t.Fatalf("UserSessions after the sweep = %v, %v; want none", infos, err)
	}
}

func TestSweepReportsExpiredUserSessions(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx := t.Context()
	t0 := time.Now()
	want := map[string]string{}
	for i := range 5 {
		key, rec := handle(), viewCounter(t0)
		rec.User = fmt.Sprint("user", i)
		want[key] = rec.User
		s.Create(ctx, key, rec)
		s.Create(ctx, handle(), viewCounter(t0)) // anonymous: no event
	}
	later := t0.Add(2 * time.Hour)
	memstore.Sweep(s, later) // as the background sweeper would

	events := make(chan store.LifecycleEvent, 100)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.Follow(fctx, func(e store.LifecycleEvent) { events <- e })
	// Follow has started once it receives what is published.
	for ready := false; !ready; {
		s.Publish(ctx, store.LifecycleEvent{Kind: "probe"})
		select {
		case <-events:
			ready = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := s.SweepExpired(ctx, later, time.Second); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for len(got) < len(want) {
		select {
		case e := <-events:
			if e.Kind == "probe" {
				continue
			}
			if e.Kind != "expired" {
				t.Fatalf("event %+v; want only expired ones", e)
			}
			got[e.Handle] = e.User
		case <-time.After(10 * time.Second):
			t.Fatalf("expired events %v; want %v", got, want)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("expired events %v; want %v", got, want)
	}
}

func TestTakeOfAMovedSessionFailsWithErrMoved(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx := t.Context()
	now := time.Now()
	key := handle()
	s.Create(ctx, key, viewCounter(now))
	if _, err := s.Take(ctx, key, now); err != nil {
		t.Fatal(err)
	}
	// A double-submitted login: the second Regenerate must learn that the
	// session moved, not that it never existed.
	if _, err := s.Take(ctx, key, now.Add(store.MovedGrace-time.Millisecond)); !errors.Is(err, store.ErrMoved) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Take within MovedGrace = %v; want store.ErrMoved only", err)
	}
	if _, err := s.Take(ctx, key, now.Add(store.MovedGrace)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take after MovedGrace = %v; want store.ErrNotFound", err)
	}
	if _, err := s.Take(ctx, handle(), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take of a key never used = %v; want store.ErrNotFound", err)
	}
}

func TestValuesSurviveThePackedForm(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx := t.Context()
	now := time.Now()
	long := strings.Repeat("n", 300) // lengths above 127 take two bytes
	values := map[string][]byte{"a": []byte("1"), "empty": {}, long: []byte(strings.Repeat("v", 1000)), "b": []byte("two")}
	key := handle()
	rec := viewCounter(now)
	rec.Values = values
	rec.Created = time.Time{}
	rec.Deadline = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) // beyond what UnixNano holds
	if err := s.Create(ctx, key, rec); err != nil {
		t.Fatal(err)
	}
	values["a"][0] = 'X' // the store copied on the way in

	got, err := s.Load(ctx, key, store.LoadOptions{Now: now, TouchAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "empty": "", long: strings.Repeat("v", 1000), "b": "two"}
	if len(got.Values) != len(want) {
		t.Fatalf("Load gave %d values; want %d", len(got.Values), len(want))
	}
	for k, v := range want {
		if string(got.Values[k]) != v {
			t.Fatalf("value %.10q = %.20q; want %.20q", k, got.Values[k], v)
		}
	}
	if !got.Touched.Equal(now) || !got.Created.IsZero() || got.Deadline.Before(now.Add(200*365*24*time.Hour)) ||
		got.IdleTimeout != 30*time.Minute {
		t.Fatalf("times: created %v touched %v (want %v) deadline %v idle %v", got.Created, got.Touched, now, got.Deadline, got.IdleTimeout)
	}
	// The caller owns what Load returned: appending to one value must not
	// overwrite another, and nothing reaches the store.
	got.Values["a"] = append(got.Values["a"], "23"...)
	got.Values["b"][0] = 'X'
	if string(got.Values["b"]) != "Xwo" {
		t.Fatalf("appending to one value changed another: %q", got.Values["b"])
	}
	again, _ := s.Load(ctx, key, store.LoadOptions{Now: now, TouchAfter: time.Hour})
	if string(again.Values["a"]) != "1" || string(again.Values["b"]) != "two" {
		t.Fatalf("changing a loaded record changed the store: %q %q", again.Values["a"], again.Values["b"])
	}
}

func TestScanCallsFnWithoutLocks(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx := t.Context()
	now := time.Now()
	for range 1000 {
		s.Create(ctx, handle(), viewCounter(now))
	}
	seen := 0
	err := s.Scan(ctx, now, 7, func(infos []store.SessionInfo) error {
		for _, in := range infos {
			// A lock held across fn would deadlock here.
			if _, err := s.Commit(ctx, in.Key, &store.Delta{Now: now, Incr: &store.Incr{Name: "views", By: 1}}); err != nil {
				return err
			}
			seen++
		}
		return nil
	})
	if err != nil || seen != 1000 {
		t.Fatalf("Scan: %v, %d sessions seen; want 1000", err, seen)
	}
}
