// Package scale holds the scale-out scenario of issue 21 on a real Redis
// Cluster of many masters on loopback: sessions spread evenly over 30
// masters, the conformance suite on them, and ten masters added and a
// quarter of the slots moved to them under load without losing anything.
package scale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

const (
	masters  = 30
	added    = 10 // a quarter of the slots (4,096) moves to them
	sessions = 100_000
	visitors = 64 // sessions incremented over HTTP while slots move
)

func TestScaleOut(t *testing.T) {
	c := redistest.StartCluster(t, masters, 0)
	client := c.Client(t)
	ctx := context.Background()
	st, err := redisstore.New(client, redisstore.Options{Prefix: "scale:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// 100,000 sessions, created through the store as a busy service would
	// (64 at a time, so through the autopipeliner).
	now := time.Now()
	keys := make([]string, sessions)
	for i := range keys {
		var b [16]byte
		rand.Read(b[:])
		keys[i] = hex.EncodeToString(b[:])
	}
	parallel(t, 64, len(keys), func(i int) error {
		rec := &store.Record{Values: map[string][]byte{"n": []byte(strconv.Itoa(i))}, Created: now, Touched: now,
			IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
		return st.Create(ctx, keys[i], rec)
	})
	if n, err := st.Count(ctx, time.Now()); err != nil || n != sessions {
		t.Fatalf("Count after %d creations = %d, %v", sessions, n, err)
	}
	perMaster := sessionKeys(t, c, "scale:")
	t.Logf("%d sessions on %d masters: %s", sessions, masters, spread(perMaster))
	even(t, perMaster, sessions, 0.10)

	// The conformance suite, every case on the 30 masters (each case its
	// own prefix: an empty store).
	t.Run("conformance", func(t *testing.T) {
		var prefixes atomic.Int64
		storetest.Run(t, func(t *testing.T) store.Store {
			s, err := redisstore.New(client, redisstore.Options{Prefix: fmt.Sprintf("c%d:", prefixes.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	if t.Failed() {
		return
	}

	// Ten masters join, and a quarter of the slots move to them while
	// visitors keep incrementing their counters over HTTP, through a
	// Cluster client of their own (it learns of the moves from MOVED and
	// ASK, as a running service would).
	m, err := seshat.New(seshat.Options{Store: newStore(t, c), Secrets: [][]byte{[]byte("scale-test-secret-0123456789abcdef")},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(demo.Handler(demo.Config{Manager: m}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: visitors}, Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	cookies := make([]string, visitors)
	for i := range cookies {
		code, body, setCookie := get(hc, srv.URL+"/", "")
		if code != 200 || views(body) != 1 || setCookie == "" {
			t.Fatalf("first visit: %d %q %q", code, body, setCookie)
		}
		cookies[i] = setCookie
	}
	var (
		stop            atomic.Bool
		acked, failed   [visitors]atomic.Int64
		wg              sync.WaitGroup
		errMu           sync.Mutex
		firstErrs       []string
		during, afterRB atomic.Int64
		moving          atomic.Bool
	)
	// Eight visitors at a time, each pausing a millisecond between
	// requests: steady traffic that leaves redis-cli time to move slots.
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i = (i + 8) % visitors {
				time.Sleep(time.Millisecond)
				code, body, _ := get(hc, srv.URL+"/", cookies[i])
				if code == 200 {
					acked[i].Add(1)
					if moving.Load() {
						during.Add(1)
					} else {
						afterRB.Add(1)
					}
					continue
				}
				failed[i].Add(1)
				errMu.Lock()
				if len(firstErrs) < 5 {
					firstErrs = append(firstErrs, fmt.Sprintf("%d %s", code, strings.TrimSpace(body)))
				}
				errMu.Unlock()
			}
		}()
	}
	// Count stays exact while slots move: no session is created or ends
	// meanwhile, so every count must be the same. (A count hash that has
	// moved is not local to the master that still owns its slot: the
	// script reading it fails, and that chunk is counted again bucket by
	// bucket, following the redirections.)
	var counts, wrongCounts atomic.Int64
	var firstWrong atomic.Value
	countDone := make(chan struct{})
	go func() {
		defer close(countDone)
		for !stop.Load() {
			n, err := st.Count(ctx, time.Now())
			counts.Add(1)
			if err != nil || n != sessions+visitors {
				wrongCounts.Add(1)
				firstWrong.CompareAndSwap(nil, fmt.Sprintf("%d, %v", n, err))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	newMasters := c.AddMasters(t, added)
	moving.Store(true)
	start := time.Now()
	movedKeys := c.MoveSlots(t, clusterSlots/4, newMasters)
	took := time.Since(start)
	moving.Store(false)
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	<-countDone
	t.Logf("%d masters: %d slots moved to the %d new ones with %d keys in %v, %d increments acknowledged meanwhile, %d after",
		masters+added, clusterSlots/4, added, movedKeys, took.Round(time.Millisecond), during.Load(), afterRB.Load())
	t.Logf("%d counts while slots moved, %d wrong", counts.Load(), wrongCounts.Load())
	if wrongCounts.Load() > 0 {
		t.Errorf("%d of %d counts while slots moved were not %d; first: %v", wrongCounts.Load(), counts.Load(), sessions+visitors, firstWrong.Load())
	}
	if during.Load() == 0 {
		t.Fatal("no increment was acknowledged while slots moved: the load did not overlap the move")
	}

	// Nothing lost: every acknowledged increment counted exactly once
	// (a failed request may or may not have been applied, and must have
	// said so).
	var nFailed int64
	for i, ck := range cookies {
		code, body, _ := get(hc, srv.URL+"/read", ck)
		want, f := 1+acked[i].Load(), failed[i].Load()
		nFailed += f
		if got := views(body); code != 200 || got < want || got > want+f {
			t.Errorf("visitor %d: /read %d %q; want %d views (%d more requests failed)", i, code, body, want, f)
		}
	}
	if nFailed > 0 {
		t.Errorf("%d of %d increments failed while slots moved, first: %q", nFailed, during.Load()+afterRB.Load()+nFailed, firstErrs)
	}

	// Every one of the 100,000 sessions is still there, whole, and counted;
	// and they spread as evenly over the 40 masters.
	parallel(t, 64, len(keys), func(i int) error {
		rec, err := st.Load(ctx, keys[i], store.LoadOptions{Now: time.Now()})
		if err != nil {
			return fmt.Errorf("load of session %d after the move: %w", i, err)
		}
		if got := string(rec.Values["n"]); got != strconv.Itoa(i) {
			return fmt.Errorf("session %d after the move holds n=%q", i, got)
		}
		return nil
	})
	if n, err := st.Count(ctx, time.Now()); err != nil || n != sessions+visitors {
		t.Fatalf("Count after the move = %d, %v; want %d", n, err, sessions+visitors)
	}
	perMaster = sessionKeys(t, c, "scale:")
	t.Logf("%d sessions on %d masters: %s", sessions+visitors, masters+added, spread(perMaster))
	even(t, perMaster, sessions+visitors, 0.10)
}

const clusterSlots = 16384

func newStore(t *testing.T, c *redistest.Cluster) *redisstore.Store {
	client := c.Client(t)
	st, err := redisstore.New(client, redisstore.Options{Prefix: "scale:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// parallel runs f(0..n-1) on workers goroutines and fails the test with
// the first error.
func parallel(t *testing.T, workers, n int, f func(i int) error) {
	t.Helper()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		t.Fatal(*err)
	}
}

// sessionKeys counts, on every master, the session keys under prefix
// (SCAN; the bucket's own keys, "{tag}#…", are not sessions).
func sessionKeys(t *testing.T, c *redistest.Cluster, prefix string) map[string]int {
	t.Helper()
	ctx := context.Background()
	per := map[string]int{}
	for _, s := range c.Masters {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr()})
		n := 0
		iter := cl.Scan(ctx, 0, prefix+"{*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()[len(prefix):]
			if i := strings.IndexByte(k, '}'); i > 0 && i+1 < len(k) && k[i+1] != '#' {
				n++
			}
		}
		err := iter.Err()
		cl.Close()
		if err != nil {
			t.Fatalf("SCAN %s: %v", s.Addr(), err)
		}
		per[s.Addr()] = n
	}
	return per
}

// even fails the test unless every master holds within tolerance of the
// average of total sessions.
func even(t *testing.T, per map[string]int, total int, tolerance float64) {
	t.Helper()
	sum := 0
	for _, n := range per {
		sum += n
	}
	if sum != total {
		t.Fatalf("the masters hold %d session keys; want %d", sum, total)
	}
	avg := float64(total) / float64(len(per))
	for addr, n := range per {
		if d := float64(n)/avg - 1; d > tolerance || d < -tolerance {
			t.Errorf("master %s holds %d sessions, %+.1f%% off the average %.0f (tolerance ±%.0f%%)",
				addr, n, 100*d, avg, 100*tolerance)
		}
	}
}

// spread describes the keys per master: least, most, busiest ÷ average.
func spread(per map[string]int) string {
	lo, hi, sum := -1, 0, 0
	for _, n := range per {
		sum += n
		hi = max(hi, n)
		if lo < 0 || n < lo {
			lo = n
		}
	}
	return fmt.Sprintf("%d to %d per master, busiest ÷ average %.3f", lo, hi, float64(hi)*float64(len(per))/float64(sum))
}

func get(hc *http.Client, url, cookie string) (int, string, string) {
	req, _ := http.NewRequest("GET", url, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error(), ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	setCookie := ""
	if cs := resp.Cookies(); len(cs) > 0 {
		setCookie = cs[0].Name + "=" + cs[0].Value
	}
	return resp.StatusCode, string(b), setCookie
}

// views parses the demo's "Number of views: N" (-1 when it is not that).
func views(body string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(body, "Number of views: ")), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
