package pgstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/pgstore/pgtest"
	"github.com/seshat-go/seshat/store"
)

// BenchmarkCount1M: the exact live count at 1,000,000 sessions (the target
// is under 10 ms); 10,000 with -short.
func BenchmarkCount1M(b *testing.B) {
	sessions := 1000000
	if testing.Short() {
		sessions = 10000
	}
	srv := pgtest.Start(b)
	p := pool(b, srv.URL())
	st, err := pgstore.New(b.Context(), p, pgstore.Options{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	// A bulk load in one transaction: the counter triggers (one update per
	// row, fine for one creation per transaction) are set aside, and the
	// counters set once.
	if _, err := p.Exec(b.Context(), `ALTER TABLE seshat_sessions DISABLE TRIGGER seshat_count`); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Exec(b.Context(), `INSERT INTO seshat_sessions (key, created, touched, idle, deadline)
		SELECT 'k' || i, $1::bigint, $1::bigint, 3600000, $1::bigint + 86400000 FROM generate_series(1, $2::int) AS i`, now, sessions); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Exec(b.Context(), `UPDATE seshat_counts SET n = CASE bucket WHEN 0 THEN $1::bigint ELSE 0 END`, sessions); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Exec(b.Context(), `ALTER TABLE seshat_sessions ENABLE TRIGGER seshat_count`); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Exec(b.Context(), `VACUUM ANALYZE seshat_sessions`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		n, err := st.Count(b.Context(), time.Now())
		if err != nil || n != int64(sessions) {
			b.Fatalf("Count = %d, %v", n, err)
		}
	}
}

// benchStore is a store on a PostgreSQL of its own, for the operation
// benchmarks (one goroutine: the server's time per call and a round trip).
func benchStore(b *testing.B) *pgstore.Store {
	srv := pgtest.Start(b)
	st, err := pgstore.Open(b.Context(), srv.URL(), pgstore.Options{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func benchRecord(now time.Time) *store.Record {
	return &store.Record{Values: map[string][]byte{"views": []byte("1")}, Created: now, Touched: now,
		IdleTimeout: 30 * time.Minute, Deadline: now.Add(24 * time.Hour)}
}

func BenchmarkCommitIncr(b *testing.B) {
	st := benchStore(b)
	now := time.Now()
	if err := st.Create(b.Context(), "k", benchRecord(now)); err != nil {
		b.Fatal(err)
	}
	d := &store.Delta{Now: now, TouchAfter: time.Minute, Incr: &store.Incr{Name: "views", By: 1}}
	for b.Loop() {
		if _, err := st.Commit(b.Context(), "k", d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	st := benchStore(b)
	now := time.Now()
	if err := st.Create(b.Context(), "k", benchRecord(now)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := st.Load(b.Context(), "k", store.LoadOptions{Now: now, TouchAfter: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	st := benchStore(b)
	now := time.Now()
	i := 0
	for b.Loop() {
		i++
		if err := st.Create(b.Context(), fmt.Sprint("k", i), benchRecord(now)); err != nil {
			b.Fatal(err)
		}
	}
}
