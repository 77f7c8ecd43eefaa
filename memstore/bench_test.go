package memstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// handle returns a store key shaped like the ones seshat makes: 96 bits of
// a keyed hash, base64url.
func handle() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// viewCounter is the record of the demo app's first request: one small
// value, the default expiry.
func viewCounter(now time.Time) *store.Record {
	return &store.Record{Values: map[string][]byte{"views": []byte("1")}, Created: now, Touched: now,
		IdleTimeout: 30 * time.Minute, Deadline: now.Add(24 * time.Hour)}
}

func filled(b *testing.B, n int) (*memstore.Store, []string, time.Time) {
	s := memstore.New()
	now := time.Now()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = handle()
		if err := s.Create(context.Background(), keys[i], viewCounter(now)); err != nil {
			b.Fatal(err)
		}
	}
	return s, keys, now
}

func BenchmarkCreate(b *testing.B) {
	s := memstore.New()
	now := time.Now()
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = handle()
	}
	rec := viewCounter(now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Create(context.Background(), keys[i], rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	s, keys, now := filled(b, 10000)
	opts := store.LoadOptions{Now: now, TouchAfter: time.Minute}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Load(context.Background(), keys[i%len(keys)], opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommitIncr(b *testing.B) {
	s, keys, now := filled(b, 10000)
	d := &store.Delta{Now: now, TouchAfter: time.Minute, Incr: &store.Incr{Name: "views", By: 1}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Commit(context.Background(), keys[i%len(keys)], d); err != nil {
			b.Fatal(err)
		}
	}
}
