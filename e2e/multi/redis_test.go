// Package multi holds scenarios of several demo instances on one Redis
// or one PostgreSQL database: parallel requests, logouts and logins
// across instances, and events that reach every instance.
package multi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// instance is one demo app process (its own go-redis client, so its own
// connections) on a shared Redis, and a client of it.
type instance struct {
	*testhttp.Client
	t      *testing.T
	m      *seshat.Manager
	store  *redisstore.Store
	client redis.UniversalClient
	calls  *roundTrips
}

var testSecret = []byte("redis-test-secret-0123456789abcdef")

// newInstance runs the demo on client (closed when the test ends, as a
// redistest client is).
func newInstance(t *testing.T, client redis.UniversalClient) *instance {
	t.Helper()
	calls := &roundTrips{}
	client.AddHook(calls)
	st, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{testSecret}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(demo.Handler(demo.Config{Manager: m}))
	t.Cleanup(srv.Close)
	return &instance{Client: testhttp.New(t, srv.URL), t: t, m: m, store: st, client: client, calls: calls}
}

// roundTrips counts commands (a pipeline counts once) sent to Redis.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

func (in *instance) redisKey(cookie string) string {
	k, ok := in.m.HandleOf(cookie)
	if !ok {
		in.t.Fatalf("cookie %q does not verify", cookie)
	}
	return in.store.SessionKey(k)
}

func TestTwoHundredIncrementsFromTwoInstances(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			d := top.Start(t)
			a, b := newInstance(t, d.Client(t)), newInstance(t, d.Client(t))
			_, _, c := a.Do("GET", "/", "", nil)
			var wg sync.WaitGroup
			for i := range 200 {
				in := a
				if i%2 == 1 {
					in = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if code, _, _ := in.Do("GET", "/", c, nil); code != 200 {
						t.Errorf("status %d", code)
					}
				}()
			}
			wg.Wait()
			if _, body, _ := b.Do("GET", "/read", c, nil); body != "Number of views: 201\n" {
				t.Fatalf("after 1 + 200 concurrent increments from two instances: %q", body)
			}
		})
	}
}

func TestLogoutRacingWritersStaysLoggedOut(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			d := top.Start(t)
			a, b := newInstance(t, d.Client(t)), newInstance(t, d.Client(t))
			for round := range 10 {
				_, _, anon := a.Do("GET", "/", "", nil)
				_, _, c := a.Do("POST", "/login", anon, url.Values{"user": {"bob"}})
				var wg sync.WaitGroup
				for i := range 51 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if i == 25 {
							b.Do("POST", "/logout", c, nil)
							return
						}
						a.Do("GET", "/", c, nil)
						a.Do("POST", "/note", c, url.Values{"text": {fmt.Sprint(i)}})
					}()
				}
				wg.Wait()
				if n, err := a.client.Exists(t.Context(), a.redisKey(c)).Result(); err != nil || n != 0 {
					t.Fatalf("round %d: the logged-out session exists in Redis after racing writers (%d, %v)", round, n, err)
				}
				if code, _, _ := b.Do("GET", "/whoami", c, nil); code != http.StatusUnauthorized {
					t.Fatalf("round %d: whoami after logout: %d", round, code)
				}
			}
		})
	}
}

func TestRoundTripsAndReadsWriteNothing(t *testing.T) {
	srv := redistest.Start(t)
	in := newInstance(t, srv.Client(t))
	_, _, c := in.Do("GET", "/", "", nil)
	in.Do("GET", "/", c, nil)
	in.Do("GET", "/read", c, nil)
	in.Do("POST", "/note", c, url.Values{"text": {"first"}}) // every script used below is cached by Redis now

	count := func(method, path string) int64 {
		before := in.calls.n.Load()
		if code, _, _ := in.Do(method, path, c, nil); code != 200 {
			t.Fatalf("%s %s: %d", method, path, code)
		}
		return in.calls.n.Load() - before
	}
	if n := count("GET", "/"); n != 1 {
		t.Errorf("an increment took %d round trips; want 1", n)
	}
	if n := count("GET", "/read"); n != 1 {
		t.Errorf("a read took %d round trips; want 1", n)
	}
	// A request that only sets a value does not read the session first:
	// the store checks the size limit and that the session still exists.
	before := in.calls.n.Load()
	if code, body, _ := in.Do("POST", "/note", c, url.Values{"text": {"written blind"}}); code != 200 && code != 303 {
		t.Fatalf("POST /note: %d %q", code, body)
	}
	if n := in.calls.n.Load() - before; n != 1 {
		t.Errorf("a write-only Set took %d round trips; want 1", n)
	}
	if v := srv.Client(t).HGet(t.Context(), in.redisKey(c), "note").Val(); v != "s"+"written blind" {
		t.Errorf("the note stored is %q", v)
	}

	// A read whose touch is due is one round trip too: the store runs the
	// touch script instead of HGETALL, not after it.
	now := time.Now()
	rec := &store.Record{Values: map[string][]byte{"a": []byte("1")}, Created: now.Add(-time.Hour),
		Touched: now.Add(-2 * time.Minute), IdleTimeout: time.Hour, Deadline: now.Add(time.Hour)}
	if err := in.store.Create(t.Context(), "rt-touch", rec); err != nil {
		t.Fatal(err)
	}
	// Redis has load.lua cached after this; then a load with a touch due,
	// and one with none due any more.
	in.store.Load(t.Context(), "rt-none", store.LoadOptions{Now: now})
	for i, want := range []time.Time{now, now} {
		before := in.calls.n.Load()
		got, err := in.store.Load(t.Context(), "rt-touch", store.LoadOptions{Now: now, TouchAfter: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if n := in.calls.n.Load() - before; n != 1 {
			t.Errorf("load %d (touch due: %v) took %d round trips; want 1", i, i == 0, n)
		}
		if !got.Touched.Equal(want.Truncate(time.Millisecond)) {
			t.Errorf("load %d: Touched %v; want %v", i, got.Touched, want)
		}
	}

	admin := srv.Client(t)
	dirty := func() string {
		info, err := admin.Info(t.Context(), "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "rdb_changes_since_last_save:"); ok {
				return v
			}
		}
		t.Fatal("no rdb_changes_since_last_save in INFO")
		return ""
	}
	ttl := admin.PTTL(t.Context(), in.redisKey(c)).Val()
	saved := dirty()
	for range 20 {
		count("GET", "/read")
	}
	if after := dirty(); after != saved {
		t.Fatalf("20 read-only requests changed Redis: rdb_changes_since_last_save %s -> %s", saved, after)
	}
	if now := admin.PTTL(t.Context(), in.redisKey(c)).Val(); now > ttl {
		t.Fatalf("a read refreshed the TTL (%v -> %v) before the touch interval", ttl, now)
	}
}

func TestEveryKeyHasAnExpiryAndNoKeyHoldsAnID(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			in := newInstance(t, top.Start(t).Client(t))
			var cookies []string
			for i := range 5 {
				_, _, c := in.Do("GET", "/", "", nil)
				_, _, c = in.Do("POST", "/login", c, url.Values{"user": {fmt.Sprint("user", i%2)}})
				in.Do("POST", "/note", c, url.Values{"text": {"hello"}})
				cookies = append(cookies, c)
			}
			in.Do("POST", "/logout", cookies[0], nil)
			keys := 0
			err := forEachKey(t, in.client, func(node *redis.Client, key string) {
				keys++
				if ttl := node.PTTL(t.Context(), key).Val(); ttl <= 0 {
					t.Errorf("key %q has no expiry (PTTL %v)", key, ttl)
				}
				dump := key + " " + fmt.Sprint(node.HGetAll(t.Context(), key).Val()) + fmt.Sprint(node.ZRange(t.Context(), key, 0, -1).Val())
				for _, c := range cookies {
					if id := c[:43]; strings.Contains(dump, id) {
						t.Errorf("key %q holds a session ID from a cookie", key)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if keys < 6 { // 4 sessions + 2 user indexes
				t.Fatalf("found only %d keys", keys)
			}
		})
	}
}

// forEachKey visits every key on every master (test code: a full SCAN).
func forEachKey(t *testing.T, c redis.UniversalClient, f func(*redis.Client, string)) error {
	var mu sync.Mutex // ForEachMaster visits masters in parallel
	visit := func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, "*", 100).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			f(node, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(t.Context(), visit)
	}
	return visit(t.Context(), c.(*redis.Client))
}

func TestBadDataUnderASessionKey(t *testing.T) {
	srv := redistest.Start(t)
	in := newInstance(t, srv.Client(t))
	admin := srv.Client(t)
	ctx := t.Context()
	damage := map[string]func(key string){
		"a string, not a hash":    func(k string) { admin.Del(ctx, k); admin.Set(ctx, k, "garbage", time.Hour) },
		"a list":                  func(k string) { admin.Del(ctx, k); admin.RPush(ctx, k, "a", "b") },
		"metadata missing":        func(k string) { admin.HDel(ctx, k, "@") },
		"time not a number":       func(k string) { admin.HSet(ctx, k, "@", "1 1700000000000 yesterday 1800000 86400000 0") },
		"future format version":   func(k string) { admin.HSet(ctx, k, "@", "99 1700000000000 0 1800000 86400000 0") },
		"foreign hash":            func(k string) { admin.Del(ctx, k); admin.HSet(ctx, k, "cookie", `{"x":1}`) },
		"value of the wrong type": func(k string) { admin.HSet(ctx, k, "views", "sNaN") },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			_, _, c := in.Do("POST", "/login", "", url.Values{"user": {"bob"}})
			key := in.redisKey(c)
			f(key)
			before, _ := admin.Dump(ctx, key).Result()

			// Through the store: a clear error, never a panic.
			k, _ := in.m.HandleOf(c)
			_, err := in.store.Load(ctx, k, store.LoadOptions{Now: time.Now(), TouchAfter: time.Hour})
			if name != "value of the wrong type" && !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Load = %v; want store.ErrCorrupt", err)
			}
			// Through HTTP: never a 500 for untrusted data, never another
			// session's data; the damaged ID is not adopted.
			code, body, nc := in.Do("GET", "/whoami", c, nil)
			if name == "value of the wrong type" {
				if code != 200 || body != "bob\n" {
					t.Errorf("whoami with one bad value: %d %q", code, body)
				}
				if code, _, _ := in.Do("GET", "/", c, nil); code != http.StatusInternalServerError && code != 200 {
					t.Errorf("increment of a non-integer: %d", code)
				}
				return
			}
			if code != http.StatusUnauthorized {
				t.Errorf("whoami on damaged data: %d %q; want 401 (a new, empty session)", code, body)
			}
			if code, body, nc = in.Do("GET", "/", c, nil); code != 200 || body != "Number of views: 1\n" || nc == "" || nc == c {
				t.Errorf("increment on damaged data: %d %q new cookie %v; want a fresh session", code, body, nc != "")
			}
			if after, _ := admin.Dump(ctx, key).Result(); after != before {
				t.Error("seshat wrote to a key holding data it cannot read")
			}
		})
	}
}

func TestScriptFlushIsHarmless(t *testing.T) {
	srv := redistest.Start(t)
	in := newInstance(t, srv.Client(t))
	_, _, c := in.Do("GET", "/", "", nil)
	if err := srv.Client(t).ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := in.Do("GET", "/", c, nil); code != 200 || body != "Number of views: 2\n" {
		t.Fatalf("after SCRIPT FLUSH: %d %q", code, body)
	}
}

func TestRedisRestartMidRun(t *testing.T) {
	srv := redistest.Start(t)
	u, err := redisstore.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := redisstore.NewClient(u)
	t.Cleanup(func() { client.Close() })
	in := newInstance(t, client)
	_, _, c := in.Do("GET", "/", "", nil)

	srv.Stop()
	start := time.Now()
	code, _, _ := in.Do("GET", "/", c, nil)
	took := time.Since(start)
	if code != http.StatusServiceUnavailable || took > 2*time.Second {
		t.Fatalf("with Redis down: status %d after %v; want 503 within the store timeout", code, took)
	}
	t.Logf("Redis down: 503 after %v", took)
	if code, _, _ := in.Do("GET", "/read", c, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("read with Redis down: %d; want 503", code)
	}

	srv.Restart(t)
	back := time.Now()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The restarted Redis has no data (no persistence): a fresh session.
		code, body, _ := in.Do("GET", "/", c, nil)
		if code == 200 {
			t.Logf("Redis back: first success %v after the restart", time.Since(back))
			if body != "Number of views: 1\n" {
				t.Fatalf("after restart: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d five seconds after Redis came back", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A store opened from each topology's URL (redis://, redis+cluster://,
// redis+sentinel://) serves the demo.
func TestURLsReachTheServers(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			u := top.Start(t).URL
			st, err := redisstore.Open(u, redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			m, _ := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{testSecret}})
			srv := httptest.NewServer(demo.Handler(demo.Config{Manager: m}))
			defer srv.Close()
			if code, body, _ := testhttp.New(t, srv.URL).Do("GET", "/", "", nil); code != 200 {
				t.Fatalf("%s: %d %q", u, code, body)
			}
		})
	}
}

func TestRegenerateWithRequestsInFlight(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			d := top.Start(t)
			a, b := newInstance(t, d.Client(t)), newInstance(t, d.Client(t))
			for round := range 5 {
				_, _, old := a.Do("GET", "/", "", nil) // views = 1
				var landed atomic.Int64
				var fresh string
				var wg sync.WaitGroup
				for i := range 41 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if i == 20 {
							_, _, fresh = b.Do("POST", "/login", old, url.Values{"user": {"ann"}})
							return
						}
						code, _, nc := a.Do("GET", "/", old, nil)
						if code == 200 && nc == "" {
							landed.Add(1) // counted on the old session
						}
					}()
				}
				wg.Wait()
				if n, _ := a.client.HExists(t.Context(), a.redisKey(old), "@").Result(); n {
					t.Fatalf("round %d: the old session still exists after Regenerate (only its moved marker may)", round)
				}
				if code, _, _ := a.Do("GET", "/whoami", old, nil); code != http.StatusUnauthorized {
					t.Fatalf("round %d: the old ID reads the logged-in session (%d)", round, code)
				}
				want := fmt.Sprintf("Number of views: %d\n", 1+landed.Load())
				if _, body, _ := a.Do("GET", "/read", fresh, nil); body != want {
					t.Fatalf("round %d: new session has %q; want %q: every increment acknowledged on the old ID must move", round, body, want)
				}
				if _, body, _ := a.Do("GET", "/whoami", fresh, nil); body != "ann\n" {
					t.Fatalf("round %d: whoami on the new ID: %q", round, body)
				}
			}
		})
	}
}

func TestRevokeUserRacingRequests(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			d := top.Start(t)
			a, b := newInstance(t, d.Client(t)), newInstance(t, d.Client(t))
			for round := range 5 {
				var bob []string
				for range 3 {
					_, _, c := a.Do("POST", "/login", "", url.Values{"user": {"bob"}})
					bob = append(bob, c)
				}
				_, _, ann := a.Do("POST", "/login", "", url.Values{"user": {"ann"}})
				var wg sync.WaitGroup
				for i := range 61 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if i == 30 {
							if n, err := b.m.RevokeUser(t.Context(), "bob"); err != nil || n < 3 {
								t.Errorf("RevokeUser = %d, %v", n, err)
							}
							return
						}
						c := bob[i%3]
						a.Do("GET", "/", c, nil)
						a.Do("POST", "/note", c, url.Values{"text": {"x"}})
					}()
				}
				wg.Wait()
				for _, c := range bob {
					if code, _, _ := a.Do("GET", "/whoami", c, nil); code != http.StatusUnauthorized {
						t.Fatalf("round %d: a revoked session of bob answers whoami %d", round, code)
					}
					if n, _ := a.client.Exists(t.Context(), a.redisKey(c)).Result(); n != 0 {
						t.Fatalf("round %d: a revoked session is back in Redis", round)
					}
				}
				if left, _ := a.m.UserSessions(t.Context(), "bob"); len(left) != 0 {
					t.Fatalf("round %d: bob still has %d sessions", round, len(left))
				}
				if _, body, _ := a.Do("GET", "/whoami", ann, nil); body != "ann\n" {
					t.Fatalf("round %d: ann was logged out too: %q", round, body)
				}
			}
		})
	}
}

func TestBackgroundEditRacingRequests(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			d := top.Start(t)
			a, job := newInstance(t, d.Client(t)), newInstance(t, d.Client(t))
			_, _, c := a.Do("POST", "/login", "", url.Values{"user": {"bob"}})
			handle, _ := a.m.HandleOf(c)
			var wg sync.WaitGroup
			for i := range 51 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i == 25 {
						// A background job promotes bob while his requests run.
						err := job.m.Edit(t.Context(), handle, func(s *seshat.Session) error {
							return s.Set("role", "admin")
						})
						if err != nil {
							t.Errorf("Edit: %v", err)
						}
						return
					}
					if i%2 == 0 {
						a.Do("GET", "/", c, nil)
					} else {
						a.Do("POST", "/note", c, url.Values{"text": {fmt.Sprint("note ", i)}})
					}
				}()
			}
			wg.Wait()
			snap, err := a.m.Inspect(t.Context(), handle)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Values["role"] != "admin" || snap.Values["views"] != int64(26) || snap.Values["note"] == nil || snap.User != "bob" {
				t.Fatalf("after a background edit racing 50 requests: %+v; want role admin, 26 views (one per even request), a note, user bob", snap)
			}
		})
	}
}

func TestLoginWithStragglersKeepsTheNewCookie(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			in := newInstance(t, top.Start(t).Client(t))
			for round := range 5 {
				browser := testhttp.NewBrowser(t, in.URL)
				browser.Do("GET", "/", "", nil) // an anonymous session
				var wg sync.WaitGroup
				codes := make([]int, 21)
				for i := range 21 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if i == 10 {
							codes[i], _, _ = browser.Do("POST", "/login", "", url.Values{"user": {"frank"}})
							return
						}
						codes[i], _, _ = browser.Do("GET", "/", "", nil)
					}()
				}
				wg.Wait()
				for i, code := range codes {
					if code != 200 && code != http.StatusConflict {
						t.Fatalf("round %d: request %d answered %d; want 200, or 409 for a straggler of the login", round, i, code)
					}
				}
				if code, body, _ := browser.Do("GET", "/whoami", "", nil); code != 200 || body != "frank\n" {
					u, _ := url.Parse(in.URL)
					t.Fatalf("round %d: after a login with 20 parallel requests the browser is not logged in: %d %q (cookies %v)",
						round, code, body, browser.HTTP.Jar.Cookies(u))
				}
			}
			// The same race made certain: requests the browser sent with
			// the old cookie reach the server after the login moved the
			// session; their answers land in the browser's jar.
			jar, _ := cookiejar.New(nil)
			u, _ := url.Parse(in.URL)
			_, _, old := in.Do("GET", "/", "", nil)
			_, _, fresh := in.Do("POST", "/login", old, url.Values{"user": {"gail"}})
			jar.SetCookies(u, []*http.Cookie{{Name: "seshat", Value: fresh, Path: "/"}})
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := in.Send(in.Request("GET", "/", nil), old)
					if r.Err != nil {
						return // failed the test
					}
					if r.Status != http.StatusConflict || len(r.Cookies) != 0 {
						t.Errorf("a straggler with the old cookie: %d, cookies %v; want 409 and the cookie left alone", r.Status, r.Cookies)
					}
					jar.SetCookies(u, r.Cookies)
				}()
			}
			wg.Wait()
			if cs := jar.Cookies(u); len(cs) != 1 || cs[0].Value != fresh {
				t.Fatalf("stragglers replaced the new cookie: %v", cs)
			}
			if code, body, _ := in.Do("GET", "/whoami", fresh, nil); code != 200 || body != "gail\n" {
				t.Fatalf("after the stragglers: whoami %d %q", code, body)
			}
		})
	}
}

func TestLifecycleEventsReachAnotherInstance(t *testing.T) {
	srv := redistest.Start(t)
	manager := func(idle time.Duration) (*seshat.Manager, *redisstore.Store) {
		st, err := redisstore.New(srv.Client(t), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{testSecret}, Events: true,
			IdleTimeout: idle, MaxSessionsPerUser: 2, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return m, st
	}
	actor, _ := manager(30 * time.Minute)
	short, _ := manager(time.Second)
	observer, _ := manager(30 * time.Minute)

	var mu sync.Mutex
	var got []seshat.LifecycleEvent
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go observer.Listen(ctx, func(e seshat.LifecycleEvent) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}, 300*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // the listener is following

	app := httptest.NewServer(demo.Handler(demo.Config{Manager: actor}))
	defer app.Close()
	a := &instance{Client: testhttp.New(t, app.URL), t: t, m: actor}
	_, _, anon := a.Do("GET", "/", "", nil)                                // created
	_, _, g1 := a.Do("POST", "/login", anon, url.Values{"user": {"gina"}}) // regenerated
	_, _, g2 := a.Do("POST", "/login", "", url.Values{"user": {"gina"}})   // created (login on a new session)
	a.Do("POST", "/login", "", url.Values{"user": {"gina"}})               // created; the cap of 2 destroys g1
	a.Do("POST", "/logout", g2, nil)                                       // destroyed: logout
	_, _, h1 := a.Do("POST", "/login", "", url.Values{"user": {"hank"}})
	if _, err := actor.RevokeUser(t.Context(), "hank"); err != nil { // destroyed: revoked
		t.Fatal(err)
	}
	shortApp := httptest.NewServer(demo.Handler(demo.Config{Manager: short}))
	defer shortApp.Close()
	s := &instance{Client: testhttp.New(t, shortApp.URL), t: t, m: short}
	_, _, idle := s.Do("POST", "/login", "", url.Values{"user": {"ivy"}}) // expires in 1 s
	idleAt := time.Now().Add(time.Second)

	k := func(c string) string { h, _ := actor.HandleOf(c); return h }
	want := []string{
		"created " + k(anon), "regenerated " + k(g1), "destroyed/user_cap " + k(g1), "destroyed/logout " + k(g2),
		"destroyed/revoked " + k(h1), "expired " + k(idle),
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		seen := map[string]seshat.LifecycleEvent{}
		for _, e := range got {
			key := string(e.Kind) + " " + e.Handle
			if e.Reason != "" {
				key = string(e.Kind) + "/" + string(e.Reason) + " " + e.Handle
			}
			seen[key] = e
		}
		mu.Unlock()
		missing := 0
		for _, w := range want {
			if _, ok := seen[w]; !ok {
				missing++
			}
		}
		if missing == 0 {
			exp := seen["expired "+k(idle)]
			delay := exp.At.Sub(idleAt)
			// Events name users by their keyed hash, never the ID.
			if exp.User != actor.UserKey("ivy") || exp.User == "ivy" || delay > 2*time.Second {
				t.Fatalf("expired event %+v came %v after the expiry; want user UserKey(ivy) within the sweep bound", exp, delay)
			}
			if r := seen["regenerated "+k(g1)]; r.Previous != k(anon) || r.User != actor.UserKey("gina") {
				t.Fatalf("regenerated event %+v", r)
			}
			t.Logf("all %d kinds of events arrived on the other instance; the expiry was reported %v after it happened (sweep every 300ms)",
				len(want), delay.Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events seen by the other instance: %v\nwant %v", seen, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
