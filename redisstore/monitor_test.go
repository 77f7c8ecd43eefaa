package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/watchdog"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func createSessions(t *testing.T, st store.Store, n int, value string) []string {
	t.Helper()
	now := time.Now()
	var keys []string
	for i := range n {
		k := fmt.Sprintf("k%07d", i)
		rec := &store.Record{Values: map[string][]byte{"v": []byte(value)}, Created: now, Touched: now,
			IdleTimeout: time.Hour, Deadline: now.Add(time.Hour)}
		if err := st.Create(t.Context(), k, rec); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestWatchdogWarnsAboveThreshold(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
	st, _ := redisstore.New(srv.Client(t), redisstore.Options{})
	var logs syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go watchdog.Watch(ctx, st, watchdog.Options{Threshold: 0.8, Interval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	time.Sleep(100 * time.Millisecond) // a few quiet checks below the threshold
	if strings.Contains(logs.String(), "memory is high") {
		t.Fatalf("warned on an empty Redis: %s", logs.String())
	}
	// Fill to 85% of maxmemory.
	now := time.Now()
	for i := 0; ; i++ {
		rec := &store.Record{Values: map[string][]byte{"v": []byte(strings.Repeat("x", 1500))}, Created: now, Touched: now,
			IdleTimeout: time.Hour, Deadline: now.Add(time.Hour)}
		if err := st.Create(t.Context(), fmt.Sprintf("fill%06d", i), rec); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if s, _ := st.Stats(t.Context(), now); float64(s.UsedMemory) >= 0.85*float64(s.MaxMemory) {
				break
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "memory is high") {
		if time.Now().After(deadline) {
			st, _ := st.Stats(t.Context(), time.Now())
			t.Fatalf("no warning at %d of %d bytes:\n%s", st.UsedMemory, st.MaxMemory, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchdogWarnsWithoutLimit(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := redisstore.New(srv.Client(t), redisstore.Options{})
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	watchdog.Watch(ctx, st, watchdog.Options{Interval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "no memory limit") {
		t.Fatalf("no warning about maxmemory 0: %q", logs.String())
	}
}
