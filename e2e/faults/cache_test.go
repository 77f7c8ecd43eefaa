package faults

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

// TestCacheAcrossFailover: an instance reading through the client-side
// cache keeps its bound across a failover (Sentinel, and Cluster with the
// session's master killed) — it follows the new master, serves nothing
// stale meanwhile, and caches again afterwards.
func TestCacheAcrossFailover(t *testing.T) {
	t.Run("sentinel", func(t *testing.T) {
		g := redistest.StartSentinel(t, 1, 3)
		cacheAcrossFailover(t, g.URL(), func(*app, string) *redistest.Server { return g.Master })
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t, 3, 1)
		cacheAcrossFailover(t, c.URL(), func(a *app, cookie string) *redistest.Server {
			k, _ := a.m.HandleOf(cookie)
			node, err := c.Client(t).MasterForKey(t.Context(), a.store.SessionKey(k))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.Masters {
				if m.Addr() == node.Options().Addr {
					return m
				}
			}
			t.Fatalf("no master at %s", node.Options().Addr)
			return nil
		})
	})
}

// cacheAcrossFailover runs the scenario; master returns the server that
// holds the session.
func cacheAcrossFailover(t *testing.T, url string, master func(a *app, cookie string) *redistest.Server) {
	const bound = 100 * time.Millisecond
	reader := newApp(t, url, redisstore.Options{LocalCache: &redisstore.LocalCache{Bound: bound}})
	writer := newApp(t, url, redisstore.Options{})
	cookie := writer.sessions(1)[0]
	victim := master(writer, cookie)
	waitReplicated(t, victim)

	views := func(a *app, path string) (int, int) {
		code, body, _, _ := a.do("GET", path, cookie, nil)
		n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(body, "Number of views: ")))
		return code, n
	}
	// checkSeen: a write the writer made is seen by a read starting bound later.
	checkSeen := func(when string, want int) {
		t.Helper()
		time.Sleep(bound)
		if code, got := views(reader, "/read"); code != 200 || got != want {
			t.Fatalf("%s: a cached read %v after the write: %d, %d views; want 200, %d", when, bound, code, got, want)
		}
	}
	var n int
	for range 5 {
		_, n = views(writer, "/")
		checkSeen("before the failover", n)
	}

	waitReplicated(t, victim) // so that the failover itself loses no write

	killed := time.Now()
	victim.Stop()
	var resumed time.Duration
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, got := views(writer, "/")
		if code == 200 {
			n, resumed = got, time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume within 30s of killing the master")
		}
		// Meanwhile the reader serves nothing stale: it fails or sees the last value.
		if code, got := views(reader, "/read"); code == 200 && got != n {
			t.Fatalf("during the failover a read saw %d views; the last acknowledged write left %d", got, n)
		}
	}
	// The reader has a client of its own, which may learn of the new
	// master a moment after the writer's (a Cluster client reloads its slot
	// map every second): until it does, its reads fail, and none may be
	// stale.
	var readsBack time.Duration
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, got := views(reader, "/read")
		if code == 200 && got != n {
			t.Fatalf("after the failover a read saw %d views; the last acknowledged write left %d", got, n)
		}
		if code == 200 {
			readsBack = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader's reads did not resume within 10s of the writer's")
		}
	}
	for i := range 20 {
		_, n = views(writer, "/")
		checkSeen("after the failover (write "+strconv.Itoa(i)+")", n)
	}
	// Caching resumes on the new master (within 5s: a busy machine may
	// delay heartbeats and so pause the cache for a moment).
	st, _ := reader.store.CacheStats()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		before := st.Hits
		views(reader, "/read")
		if st, _ = reader.store.CacheStats(); st.Hits > before && st.Reconnects > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cache hit on the new master within 5s: %+v", st)
		}
	}
	t.Logf("client-side cache across a failover: writes back %v after the kill, the reader's reads %v; every read %v after a write saw it; tracking reconnected %d times, serving again",
		resumed.Round(time.Millisecond), readsBack.Round(time.Millisecond), bound, st.Reconnects)
}
