package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

const bound = 100 * time.Millisecond

// cachedStore returns a store with the client-side cache on, once its
// tracking connection serves.
func cachedStore(t testing.TB, client redis.UniversalClient, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(client, redisstore.Options{Prefix: prefix, LocalCache: &redisstore.LocalCache{Bound: bound}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := s.CacheStats(); st.Serving {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache's tracking connection did not come up within 5s")
		}
	}
}

func TestConformanceCached(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			client := top.Start(t).Client(t)
			storetest.Run(t, func(t *testing.T) store.Store {
				return cachedStore(t, client, fmt.Sprintf("c%d:", prefixes.Add(1)))
			})
		})
	}
}

// newSessionIn creates a session holding a=0 through s.
func newSessionIn(t *testing.T, s store.Store) string {
	t.Helper()
	k := fmt.Sprintf("k%d", time.Now().UnixNano())
	now := time.Now()
	rec := &store.Record{Values: map[string][]byte{"a": []byte("0")}, Created: now, Touched: now,
		IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
	if err := s.Create(t.Context(), k, rec); err != nil {
		t.Fatal(err)
	}
	return k
}

func load(t *testing.T, s store.Store, k string) (*store.Record, error) {
	return s.Load(t.Context(), k, store.LoadOptions{Now: time.Now(), TouchAfter: time.Hour})
}

// TestCacheBound checks the documented guarantee against another
// instance's writes and logouts, and measures how soon they are seen.
func TestCacheBound(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) { cacheBound(t, top.Start(t).Client(t)) })
	}
}

func cacheBound(t *testing.T, client redis.UniversalClient) {
	a := cachedStore(t, client, "b:")                                  // reads, cached
	b, err := redisstore.New(client, redisstore.Options{Prefix: "b:"}) // writes: another instance
	if err != nil {
		t.Fatal(err)
	}
	k := newSessionIn(t, b)
	// The creation's own invalidation may spoil the first fetch; a few
	// loads later the session is cached.
	untilHit(t, a, k)

	var delays []time.Duration
	for i := 1; i <= 100; i++ {
		want := fmt.Sprint(i)
		if _, err := b.Commit(t.Context(), k, &store.Delta{Now: time.Now(), TouchAfter: time.Hour, Set: map[string][]byte{"a": []byte(want)}}); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		for {
			started := time.Since(written) // the bound is about when a read starts
			rec, err := load(t, a, k)
			if err != nil {
				t.Fatal(err)
			}
			if string(rec.Values["a"]) == want {
				delays = append(delays, time.Since(written))
				break
			}
			if started > bound {
				t.Fatalf("write %d: a cached read started %v after the write still sees a=%s; the bound is %v", i, started, rec.Values["a"], bound)
			}
		}
	}
	slices.Sort(delays)
	t.Logf("another instance's write seen by cached reads after: median %v, max %v (bound %v)",
		delays[len(delays)/2], delays[len(delays)-1], bound)

	// A logout elsewhere.
	if err := b.Destroy(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	time.Sleep(bound)
	if rec, err := load(t, a, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a cached read %v after another instance destroyed the session: %v, %v", bound, rec, err)
	}
}

// TestCacheOwnDestroyIsFinal: G3 for the instance that destroys, with its
// own readers racing the destroy.
func TestCacheOwnDestroyIsFinal(t *testing.T) {
	srv := redistest.Start(t)
	a := cachedStore(t, srv.Client(t), "g3:")
	for range 50 {
		k := newSessionIn(t, a)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					load(t, a, k) // keeps the session cached and fetches in flight
				}
			})
		}
		time.Sleep(2 * time.Millisecond)
		if err := a.Destroy(t.Context(), k); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if rec, err := load(t, a, k); !errors.Is(err, store.ErrNotFound) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("G3 broken: after Destroy returned, this instance's cached read gave %v, %v", rec, err)
			}
		}
		stop.Store(true)
		wg.Wait()
	}
	if st, _ := a.CacheStats(); st.Hits == 0 {
		t.Fatal("the racing readers never hit the cache: the test proved nothing")
	}
}

// TestCacheTrackingLost: when the tracking connection is killed, writes
// made meanwhile are still seen within the bound, and the cache comes back.
func TestCacheTrackingLost(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	a := cachedStore(t, client, "lost:")
	b, err := redisstore.New(client, redisstore.Options{Prefix: "lost:"})
	if err != nil {
		t.Fatal(err)
	}
	k := newSessionIn(t, b)
	load(t, a, k)
	load(t, a, k)
	for i := 1; i <= 5; i++ {
		killTracking(t, client)
		writeThenRead(t, b, a, k, i, "with its tracking connection killed")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, _ := a.CacheStats()
		if st.Serving && st.Reconnects > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache did not come back after its connection was killed: %+v", st)
		}
	}
	untilHit(t, a, k)
}

// untilHit loads k until a load is served from the cache, for at most 5s
// (a busy machine may delay heartbeats and so pause the cache for a moment).
func untilHit(t *testing.T, s *redisstore.Store, k string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		before, _ := s.CacheStats()
		if _, err := load(t, s, k); err != nil {
			t.Fatal(err)
		}
		after, _ := s.CacheStats()
		if after.Hits > before.Hits {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no load of an unchanged session was served from the cache within 5s: %+v", after)
		}
	}
}

// writeThenRead sets a=i through w, and checks that a read through r
// starting bound later sees it.
func writeThenRead(t *testing.T, w, r store.Store, k string, i int, when string) {
	t.Helper()
	want := fmt.Sprint(i)
	if _, err := w.Commit(t.Context(), k, &store.Delta{Now: time.Now(), TouchAfter: time.Hour, Set: map[string][]byte{"a": []byte(want)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(bound)
	rec, err := load(t, r, k)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(rec.Values["a"]); got != want {
		t.Fatalf("%s, a cached read %v after a write saw a=%s; want %s", when, bound, got, want)
	}
}

// killTracking kills the cache's tracking connection (named seshat-cache).
func killTracking(t *testing.T, client *redis.Client) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		list, err := client.ClientList(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(list) {
			if !strings.Contains(line, " name=seshat-cache ") {
				continue
			}
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			if err := client.ClientKillByFilter(t.Context(), "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no seshat-cache connection in CLIENT LIST within 5s")
}

func BenchmarkLoadCached(b *testing.B) {
	srv := redistest.Start(b)
	s := cachedStore(b, srv.Client(b), "bench:")
	now := time.Now()
	rec := &store.Record{Values: map[string][]byte{"views": []byte("1"), "user": []byte("sbob")},
		Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
	if err := s.Create(b.Context(), "k", rec); err != nil {
		b.Fatal(err)
	}
	opts := store.LoadOptions{Now: now, TouchAfter: time.Hour}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(b.Context(), "k", opts); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := s.CacheStats()
	b.ReportMetric(float64(st.Hits)/float64(st.Hits+st.Misses), "hit-ratio")
}

// TestCacheFollowsTheDataPath: the store's client starts using another
// server (as after a Sentinel failover that left the old master up and
// still a master, cut off from the Sentinels) while the tracking
// connection stays on the old one. The cache must stop serving and move:
// otherwise writes on the new server would never invalidate it.
func TestCacheFollowsTheDataPath(t *testing.T) {
	oldSrv, newSrv := redistest.Start(t), redistest.Start(t)
	var target atomic.Value
	target.Store(oldSrv.Addr())
	client := redis.NewClient(&redis.Options{Addr: oldSrv.Addr(), Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, target.Load().(string))
	}})
	t.Cleanup(func() { client.Close() })
	a := cachedStore(t, client, "move:")
	k := newSessionIn(t, a)
	untilHit(t, a, k)

	// "Failover": the session is on the new server, the client dials it,
	// its data connections to the old one break; the tracker's does not.
	admin := oldSrv.Client(t)
	rkey := a.SessionKey(k)
	dump, err := admin.Dump(t.Context(), rkey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := newSrv.Client(t).RestoreReplace(t.Context(), rkey, 0, dump).Err(); err != nil {
		t.Fatal(err)
	}
	target.Store(newSrv.Addr())
	list, _ := admin.ClientList(t.Context()).Result()
	self, _ := admin.ClientID(t.Context()).Result()
	for line := range strings.Lines(list) {
		id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
		if !strings.Contains(line, "name=seshat-cache") && id != fmt.Sprint(self) {
			admin.ClientKillByFilter(t.Context(), "ID", id)
		}
	}
	b, err := redisstore.New(newSrv.Client(t), redisstore.Options{Prefix: "move:"}) // another instance, on the new server
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		writeThenRead(t, b, a, k, i, "after the move")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		load(t, a, k)
		if st, _ := a.CacheStats(); st.Serving {
			break
		}
		if time.Now().After(deadline) {
			st, _ := a.CacheStats()
			t.Fatalf("the cache did not resume on the new server: %+v", st)
		}
	}
	if n := newSrv.Client(t).ClientList(t.Context()).Val(); !strings.Contains(n, "name=seshat-cache") {
		t.Fatal("no tracking connection on the new server")
	}
}
