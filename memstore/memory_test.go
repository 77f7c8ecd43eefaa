package memstore_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
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

// BenchmarkMemory1M measures what a million sessions of the demo app cost:
// the live heap per session, and the heap left once they have expired and
// one sweep ran, without any new traffic.
func BenchmarkMemory1M(b *testing.B) {
	const n = 1_000_000
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
		b.ReportMetric(float64(full-base)/n, "bytes/session")
		b.ReportMetric(float64(full-base)/(1<<20), "MB-full")
		b.ReportMetric(float64(int64(swept)-int64(base))/(1<<20), "MB-after-sweep")
		b.ReportMetric(float64(sweep.Milliseconds()), "ms/sweep")
	}
}
