package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// sessionsForScale is how many sessions the scale benchmarks create:
// $SESHAT_BENCH_SESSIONS, else 1,000,000, or 20,000 with -short (the
// test command's smoke run).
func sessionsForScale() int {
	if v, err := strconv.Atoi(os.Getenv("SESHAT_BENCH_SESSIONS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 20000
	}
	return 1000000
}

// fill creates n sessions holding one small value through the create
// script, pipelined 1,000 at a time.
func fill(b *testing.B, s *Store, n int, now time.Time) {
	ctx := context.Background()
	rec := &store.Record{
		Values:  map[string][]byte{"views": []byte("1")},
		Created: now, Touched: now, IdleTimeout: 30 * time.Minute, Deadline: now.Add(24 * time.Hour),
	}
	args := createArgs(rec)
	if err := createScript.Load(ctx, s.client).Err(); err != nil {
		b.Fatal(err)
	}
	for done := 0; done < n; {
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < 1000 && done < n; i, done = i+1, done+1 {
				key := fmt.Sprintf("%016x", done)
				createScript.EvalSha(ctx, p, s.keysIn(s.layout, key), args...)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory")
	return 0
}

// BenchmarkCount measures Count with many sessions stored; it also reports
// the Redis memory each session takes (one small value, 16-byte keys like
// the manager's).
func BenchmarkCount(b *testing.B) {
	srv := redistest.Start(b)
	c := srv.Client(b)
	s, _ := New(c, Options{})
	n := sessionsForScale()
	now := time.Now()
	before := usedMemory(b, c)
	fill(b, s, n, now) // creations record no operation ID: nothing to wait for
	perSession := float64(usedMemory(b, c)-before) / float64(n)
	ctx := context.Background()
	if got, err := s.Count(ctx, now); err != nil || got != int64(n) {
		b.Fatalf("Count = %d, %v; want %d", got, err, n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Count(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perSession, "redis-bytes/session")
	b.ReportMetric(float64(n), "sessions")
}
