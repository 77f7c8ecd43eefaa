package memstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}

func TestExpiredSessionsAreReclaimed(t *testing.T) {
	s := memstore.New()
	ctx := t.Context()
	t0 := time.Now()
	rec := func(now time.Time) *store.Record {
		return &store.Record{Created: now, Touched: now, IdleTimeout: time.Minute, Deadline: now.Add(time.Hour),
			Values: map[string][]byte{"v": []byte("1")}}
	}
	for i := range 10000 {
		if err := s.Create(ctx, fmt.Sprint("old", i), rec(t0)); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Len(); n != 10000 {
		t.Fatalf("Len = %d", n)
	}
	// Two minutes later every one of them is idle-expired; the next
	// creation reclaims them without anyone loading them.
	later := t0.Add(2 * time.Minute)
	if err := s.Create(ctx, "new", rec(later)); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len after expiry = %d; want 1 (expired sessions must be reclaimed)", n)
	}
}
