package memstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// A flood of new visitors at MaxSessions pushes out the flood itself, never
// a signed-in user nor a visitor who keeps coming back.
func TestFloodEvictsLeastRecentlyUsedAnonymousSessions(t *testing.T) {
	const max, flood = 1000, 20000
	s := newStore(t, memstore.Options{MaxSessions: max})
	ctx := t.Context()
	now := time.Now()
	var users, regulars []string
	for i := range 50 {
		key, rec := handle(), viewCounter(now)
		rec.User = fmt.Sprint("user", i)
		if err := s.Create(ctx, key, rec); err != nil {
			t.Fatal(err)
		}
		users = append(users, key)
	}
	for range 100 {
		key := handle()
		if err := s.Create(ctx, key, viewCounter(now)); err != nil {
			t.Fatal(err)
		}
		regulars = append(regulars, key)
	}
	load := store.LoadOptions{Now: now, TouchAfter: time.Minute}
	for i := range flood {
		if err := s.Create(ctx, handle(), viewCounter(now)); err != nil {
			t.Fatalf("flood session %d: %v; want eviction to make room", i, err)
		}
		if i%50 == 0 {
			for _, k := range regulars {
				if _, err := s.Load(ctx, k, load); err != nil {
					t.Fatalf("after %d flood sessions, a visitor who comes back every 50 lost the session: %v", i, err)
				}
			}
		}
		if n := s.Len(); n > max {
			t.Fatalf("Len = %d; want at most MaxSessions %d", n, max)
		}
	}
	for _, k := range users {
		if _, err := s.Load(ctx, k, load); err != nil {
			t.Fatalf("a flood of anonymous sessions logged out a user: %v", err)
		}
	}
	st, err := s.Stats(ctx, now)
	if want := int64(50 + 100 + flood - max); err != nil || st.Sessions != max || st.EvictedKeys != want {
		t.Fatalf("Stats = %+v, %v; want %d sessions and %d evicted", st, err, max, want)
	}
}

// When only sessions bound to users are left, Create refuses rather than
// log someone out.
func TestFullOfUsersRefusesWithErrFull(t *testing.T) {
	s := newStore(t, memstore.Options{MaxSessions: 10})
	ctx := t.Context()
	now := time.Now()
	var keys []string
	for i := range 10 {
		key, rec := handle(), viewCounter(now)
		rec.User = fmt.Sprint("user", i)
		if err := s.Create(ctx, key, rec); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	bound := viewCounter(now)
	bound.User = "late"
	for _, rec := range []*store.Record{viewCounter(now), bound} {
		if err := s.Create(ctx, handle(), rec); !errors.Is(err, store.ErrFull) {
			t.Fatalf("Create (user %q) at MaxSessions with only users = %v; want store.ErrFull", rec.User, err)
		}
	}
	for _, k := range keys {
		if _, err := s.Load(ctx, k, store.LoadOptions{Now: now}); err != nil {
			t.Fatalf("a refused Create lost a user's session: %v", err)
		}
	}
	// Unbinding one (a logout that keeps the session) makes it evictable.
	none := ""
	if _, err := s.Commit(ctx, keys[0], &store.Delta{Now: now, User: &none}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, handle(), bound); err != nil {
		t.Fatalf("Create with an anonymous session to evict: %v", err)
	}
	if _, err := s.Load(ctx, keys[0], store.LoadOptions{Now: now}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the anonymous session was not the one evicted: %v", err)
	}
	// Destroying one makes room too.
	if err := s.Destroy(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, handle(), viewCounter(now)); err != nil {
		t.Fatalf("Create after a Destroy made room: %v", err)
	}
	if n := s.Len(); n != 10 {
		t.Fatalf("Len = %d; want 10", n)
	}
}

// Eviction is least recently used: a Load or a Commit counts as a use.
func TestEvictionOrderFollowsUse(t *testing.T) {
	const max = 64
	s := newStore(t, memstore.Options{MaxSessions: max})
	ctx := t.Context()
	now := time.Now()
	keys := make([]string, max)
	for i := range keys {
		keys[i] = handle()
		s.Create(ctx, keys[i], viewCounter(now))
	}
	// Use the first half, the oldest: the second half is now the least
	// recently used, and must go first.
	for i, k := range keys[:max/2] {
		var err error
		if i%2 == 0 {
			_, err = s.Load(ctx, k, store.LoadOptions{Now: now, TouchAfter: time.Hour})
		} else {
			_, err = s.Commit(ctx, k, &store.Delta{Now: now, TouchAfter: time.Hour, Incr: &store.Incr{Name: "views", By: 1}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for range max / 4 {
		if err := s.Create(ctx, handle(), viewCounter(now)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys[:max/2] {
		if _, err := s.Load(ctx, k, store.LoadOptions{Now: now, TouchAfter: time.Hour}); err != nil {
			t.Fatalf("a recently used session was evicted before older ones: %v", err)
		}
	}
}
