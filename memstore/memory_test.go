package memstore_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the second one frees what the cleanups of the first released
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// fill creates n view-counter sessions at now.
func fill(tb testing.TB, s *memstore.Store, n int, now time.Time) {
	tb.Helper()
	for range n {
		if err := s.Create(context.Background(), handle(), viewCounter(now)); err != nil {
			tb.Fatal(err)
		}
	}
}

// A small session costs a few hundred bytes at most, and the memory of
// expired sessions returns to the heap after one sweep, with no new
// traffic. (Before the store was packed and its maps rebuilt: 579 bytes per
// session, and 3.5 MB kept after 100,000 sessions expired.)
func TestMemoryPerSession(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a store with 100,000 sessions")
	}
	const n = 100_000
	base := liveHeap()
	s := newStore(t, memstore.Options{})
	now := time.Now()
	fill(t, s, n, now)
	full := liveHeap()
	perSession := float64(int64(full)-int64(base)) / n
	if perSession > 400 {
		t.Errorf("%.0f bytes of heap per session; want at most 400", perSession)
	}
	memstore.Sweep(s, now.Add(2*time.Hour))
	swept := liveHeap()
	left := int64(swept) - int64(base)
	if s.Len() != 0 || left > int64(full-base)/20 {
		t.Errorf("after expiry and one sweep: %d sessions, %d bytes of heap above the empty store; want none, and at most 5%% of the %d bytes the sessions took",
			s.Len(), left, full-base)
	}
	runtime.KeepAlive(s)
	t.Logf("%.0f bytes per session; %d bytes left after expiry and one sweep", perSession, left)
}

// BenchmarkMemory1M measures what a million sessions of the demo app cost:
// the live heap per session, and the heap left once they have expired and
// one sweep ran, without any new traffic.
func BenchmarkMemory1M(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 20_000 // the test command's smoke run
	}
	for range b.N {
		base := liveHeap()
		s := memstore.New()
		now := time.Now()
		fill(b, s, n, now)
		full := liveHeap()
		if got := s.Len(); got != n {
			b.Fatalf("Len = %d; want %d", got, n)
		}
		start := time.Now()
		memstore.Sweep(s, now.Add(2*time.Hour))
		sweep := time.Since(start)
		swept := liveHeap()
		if got := s.Len(); got != 0 {
			b.Fatalf("Len after the sweep = %d; want 0", got)
		}
		runtime.KeepAlive(s)
		b.ReportMetric(float64(full-base)/float64(n), "bytes/session")
		b.ReportMetric(float64(full-base)/(1<<20), "MB-full")
		b.ReportMetric(float64(int64(swept)-int64(base))/(1<<20), "MB-after-sweep")
		b.ReportMetric(float64(sweep.Milliseconds()), "ms/sweep")
	}
}

// BenchmarkFlood sends three million new visitors at a store of the
// default cap that holds 10,000 signed-in users and 1,000 visitors who come
// back after every 10,000 new ones: the heap stays at the cap, and neither
// the users nor the regulars lose their sessions.
func BenchmarkFlood(b *testing.B) {
	const users, regulars = 10_000, 1_000
	flood, limit := 3_000_000, memstore.DefaultMaxSessions
	if testing.Short() {
		flood, limit = 60_000, 30_000 // the test command's smoke run
	}
	for range b.N {
		base := liveHeap()
		s, err := memstore.NewWithOptions(memstore.Options{MaxSessions: limit})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		now := time.Now()
		keys := make([]string, users+regulars)
		for i := range keys {
			keys[i] = handle()
			rec := viewCounter(now)
			if i < users {
				rec.User = fmt.Sprint("user", i)
			}
			if err := s.Create(ctx, keys[i], rec); err != nil {
				b.Fatal(err)
			}
		}
		load := store.LoadOptions{Now: now, TouchAfter: time.Minute}
		start := time.Now()
		for i := range flood {
			if err := s.Create(ctx, handle(), viewCounter(now)); err != nil {
				b.Fatal(err)
			}
			if i%10_000 == 0 {
				for _, k := range keys[users:] {
					if _, err := s.Load(ctx, k, load); err != nil {
						b.Fatalf("after %d new visitors, a regular lost the session: %v", i, err)
					}
				}
			}
		}
		elapsed := time.Since(start)
		full := liveHeap()
		for _, k := range keys {
			if _, err := s.Load(ctx, k, load); err != nil {
				b.Fatalf("a user or regular lost the session: %v", err)
			}
		}
		st, _ := s.Stats(ctx, now)
		if st.Sessions != int64(limit) {
			b.Fatalf("%d sessions; want the cap, %d", st.Sessions, limit)
		}
		s.Close()
		b.ReportMetric(float64(full-base)/(1<<20), "MB-at-cap")
		b.ReportMetric(float64(st.EvictedKeys), "evicted")
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(flood), "ns/create")
	}
}

// The background sweeper, not only an explicit sweep, returns the heap of
// expired sessions, with no traffic at all: the store goes back to its
// empty size once the sweeper's clock passes the expiry.
func TestBackgroundSweeperReturnsHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a store with 100,000 sessions")
	}
	const n = 100_000
	base := liveHeap()
	t0 := time.Now()
	c := &clock{t: t0}
	s := memstore.NewWithClock(memstore.Options{SweepInterval: 20 * time.Millisecond}, c.now)
	t.Cleanup(func() { s.Close() })
	fill(t, s, n, t0)
	full := liveHeap()
	if s.Len() != n {
		t.Fatalf("Len = %d before expiry; want %d", s.Len(), n)
	}
	c.set(t0.Add(2 * time.Hour)) // every session idle-expired; no request comes
	deadline := time.Now().Add(30 * time.Second)
	for s.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions left 30 s after they expired: the background sweeper did not run", s.Len(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	left := int64(liveHeap()) - int64(base)
	if left > int64(full-base)/20 {
		t.Errorf("after the background sweeper: %d bytes of heap above the empty store; want at most 5%% of the %d bytes the sessions took", left, full-base)
	}
	runtime.KeepAlive(s)
	t.Logf("%d bytes of sessions; %d bytes left once the background sweeper ran", full-base, left)
}
