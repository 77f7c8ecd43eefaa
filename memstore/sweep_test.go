package memstore_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// eventually polls cond until it holds, or fails after a generous time:
// the machine may be slow, but the condition must come.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 20 s", what)
		}
	}
}

// The background sweeper reclaims expired sessions and markers without any
// traffic: nobody creates, loads or sweeps.
func TestSweeperReclaimsWithoutTraffic(t *testing.T) {
	t0 := time.Now()
	c := &clock{t: t0}
	s := memstore.NewWithClock(memstore.Options{SweepInterval: time.Millisecond}, c.now)
	defer s.Close()
	ctx := t.Context()
	for i := range 5000 {
		rec := viewCounter(t0)
		if i%10 == 0 {
			rec.User = fmt.Sprint("user", i)
		}
		if err := s.Create(ctx, handle(), rec); err != nil {
			t.Fatal(err)
		}
	}
	moved := handle()
	s.Create(ctx, moved, viewCounter(t0))
	s.Take(ctx, moved, t0)
	if n := memstore.Entries(s); n != 5001 {
		t.Fatalf("%d entries; want 5001 (nothing has expired yet, whatever the sweeper did)", n)
	}

	c.set(t0.Add(2 * time.Hour))
	eventually(t, "expired sessions and markers reclaimed by the sweeper", func() bool { return memstore.Entries(s) == 0 })
	if infos, _ := s.UserSessions(ctx, "user0", t0.Add(2*time.Hour)); len(infos) != 0 {
		t.Fatalf("UserSessions = %v after the sweep; want none", infos)
	}
}

func TestCloseStopsTheSweeper(t *testing.T) {
	base := runtime.NumGoroutine()
	var stores []*memstore.Store
	for range 10 {
		s, err := memstore.NewWithOptions(memstore.Options{SweepInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	if n := runtime.NumGoroutine(); n < base+10 {
		t.Fatalf("%d goroutines with 10 stores, %d before; want one sweeper per store", n, base)
	}
	for _, s := range stores {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil { // idempotent
			t.Fatal(err)
		}
	}
	eventually(t, fmt.Sprintf("goroutines back to %d after Close", base), func() bool { return runtime.NumGoroutine() <= base })
	// A closed store still answers.
	ctx := t.Context()
	now := time.Now()
	key := handle()
	if err := stores[0].Create(ctx, key, viewCounter(now)); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[0].Load(ctx, key, store.LoadOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
}

// A store dropped without Close does not leak its sweeper: the sweeper
// holds it weakly, and its cleanup stops the sweeper.
func TestDroppedStoreStopsItsSweeper(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		for range 10 {
			s := memstore.New()
			s.Create(t.Context(), handle(), viewCounter(time.Now()))
		}
	}()
	eventually(t, fmt.Sprintf("goroutines back to %d once the stores are garbage", base), func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= base
	})
}
