package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/internal/redistest"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/store"
)

// Each benchmark makes one round trip per iteration to a local
// redis-server; compare seshat's operations with the bare go-redis
// command doing the nearest thing (the floor).

func benchStore(b *testing.B) (*redisstore.Store, *redis.Client, string) {
	srv := redistest.Start(b)
	c := srv.Client(b)
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	rec := &store.Record{
		Values:  map[string][]byte{"views": []byte("1"), "user": []byte("sbob")},
		Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour),
	}
	if err := s.Create(context.Background(), "benchkey", rec); err != nil {
		b.Fatal(err)
	}
	return s, c, "benchkey"
}

func BenchmarkBareHGetAll(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	c.HSet(ctx, "bare", "views", 1, "user", "sbob")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.HGetAll(ctx, "bare").Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	s, _, key := benchStore(b)
	ctx := context.Background()
	opts := store.LoadOptions{Now: time.Now(), TouchAfter: time.Hour}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, key, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareHIncrBy(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.HIncrBy(ctx, "bare", "views", 1).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncr(b *testing.B) {
	s, _, key := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d := &store.Delta{Now: time.Now(), Incr: &store.Incr{Name: "views", By: 1}}
		if _, err := s.Commit(ctx, key, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareHSet(b *testing.B) {
	_, c, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.HSet(ctx, "bare", "page", "s/cart").Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommit(b *testing.B) {
	s, _, key := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d := &store.Delta{Now: time.Now(), Set: map[string][]byte{"page": []byte("s/cart")}, MaxSize: 65536}
		if _, err := s.Commit(ctx, key, d); err != nil {
			b.Fatal(err)
		}
	}
}
