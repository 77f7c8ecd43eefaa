package express_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/expresscompat"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// lossyExpress returns an expresscompat store whose connections go through
// proxies in front of addrs, on a client parsed from url (go-redis's
// default retries), and the proxies.
func lossyExpress(t *testing.T, url string, addrs []string) (*expresscompat.Store, redistest.Proxies, redis.UniversalClient) {
	t.Helper()
	ps := redistest.StartProxies(t, addrs...)
	o, err := redisstore.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.Dialer = ps.Dialer()
	client := redisstore.NewClient(o)
	t.Cleanup(func() { client.Close() })
	st, err := expresscompat.New(client, expresscompat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, ps, client
}

// record returns a record holding values in seshat's encoding.
func record(t *testing.T, now time.Time, values map[string]any) *store.Record {
	rec := &store.Record{Values: map[string][]byte{}, Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
	for k, v := range values {
		b, err := seshat.EncodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		rec.Values[k] = b
	}
	return rec
}

// value decodes a stored value.
func value(t *testing.T, rec *store.Record, name string) any {
	v, err := seshat.DecodeValue(rec.Values[name])
	if err != nil {
		t.Fatalf("value %q: %v", name, err)
	}
	return v
}

// Issue 23 on the express-session layout: writes whose reply is lost (the
// script ran, the connection dropped, the client sent it again) apply once,
// a take retried after its reply was lost answers what it took, and
// concurrent takes of one session leave exactly one winner (G4).
func TestExpressExactlyOnce(t *testing.T) {
	for _, top := range []struct {
		name  string
		start func(t *testing.T) (url string, addrs []string)
	}{
		{"standalone", func(t *testing.T) (string, []string) {
			srv := redistest.Start(t)
			return srv.URL(), []string{srv.Addr()}
		}},
		{"cluster", func(t *testing.T) (string, []string) {
			c := redistest.StartCluster(t, 3, 0)
			return c.URL(), c.Addrs()
		}},
	} {
		t.Run(top.name, func(t *testing.T) {
			url, addrs := top.start(t)
			st, ps, client := lossyExpress(t, url, addrs)
			ctx := t.Context()
			now := time.Now()

			t.Run("200 increments with every 10th reply lost count 200", func(t *testing.T) {
				key := "incr" + top.name
				if err := st.Create(ctx, key, record(t, now, map[string]any{"views": 0, "note": "hi"})); err != nil {
					t.Fatal(err)
				}
				before := ps.Cuts()
				ps.CutReplies(redistest.FirstTries(10, "evalsha", "eval"))
				defer ps.CutReplies(nil)
				for i := range 200 {
					res, err := st.Commit(ctx, key, &store.Delta{Now: now, Incr: &store.Incr{Name: "views", By: 1}})
					if err != nil {
						t.Fatalf("increment %d: %v", i+1, err)
					}
					if res.Value != int64(i+1) {
						t.Fatalf("increment %d answered %d", i+1, res.Value)
					}
				}
				ps.CutReplies(nil)
				rec, err := st.Load(ctx, key, store.LoadOptions{Now: now, TouchAfter: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(value(t, rec, "views")); got != "200" {
					t.Fatalf("stored count %s after 200 increments; want 200 (a retried script ran twice)", got)
				}
				if cuts := ps.Cuts() - before; cuts < 15 {
					t.Fatalf("only %d replies were lost: the case tested little", cuts)
				}
			})

			t.Run("creations and takes whose replies are lost apply once and answer", func(t *testing.T) {
				before := ps.Cuts()
				ps.CutReplies(redistest.FirstTries(1, "evalsha", "eval")) // every first try
				defer ps.CutReplies(nil)
				for i := range 20 {
					key := top.name + "-take-" + string(rune('a'+i))
					if err := st.Create(ctx, key, record(t, now, map[string]any{"cart": "3 items"})); err != nil {
						t.Fatalf("create %d with its reply lost: %v", i, err)
					}
					rec, err := st.Take(ctx, key, now)
					if err != nil {
						t.Fatalf("take %d with its reply lost: %v; want the session it took", i, err)
					}
					if got := value(t, rec, "cart"); got != "3 items" {
						t.Fatalf("take %d answered cart %q; want the data it moved", i, got)
					}
					if _, err := st.Take(ctx, key, now); !errors.Is(err, store.ErrMoved) {
						t.Fatalf("a second take of a moved session: %v; want ErrMoved", err)
					}
				}
				if cuts := ps.Cuts() - before; cuts < 40 {
					t.Fatalf("only %d replies were lost; want one per creation and take", cuts)
				}
			})

			t.Run("30 concurrent takes: one moves the session, the others get ErrMoved", func(t *testing.T) {
				for round := range 10 {
					key := top.name + "-race-" + string(rune('a'+round))
					if err := st.Create(ctx, key, record(t, now, map[string]any{"cart": "x"})); err != nil {
						t.Fatal(err)
					}
					var wg sync.WaitGroup
					var mu sync.Mutex
					won, moved := 0, 0
					for range 30 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							_, err := st.Take(ctx, key, now)
							mu.Lock()
							defer mu.Unlock()
							switch {
							case err == nil:
								won++
							case errors.Is(err, store.ErrMoved):
								moved++
							default:
								t.Errorf("take: %v", err)
							}
						}()
					}
					wg.Wait()
					if won != 1 || moved != 29 {
						t.Fatalf("round %d: %d takes won, %d got ErrMoved; want 1 and 29", round, won, moved)
					}
					if _, err := st.Load(ctx, key, store.LoadOptions{Now: now}); !errors.Is(err, store.ErrMoved) {
						t.Fatalf("load after the move: %v; want ErrMoved", err)
					}
					if _, err := st.Commit(ctx, key, &store.Delta{Now: now, Set: map[string][]byte{"a": []byte("1")}}); !errors.Is(err, store.ErrMoved) {
						t.Fatalf("commit after the move: %v; want ErrMoved", err)
					}
					if err := st.Destroy(ctx, key); err != nil {
						t.Fatal(err)
					}
					if _, err := st.Load(ctx, key, store.LoadOptions{Now: now}); !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("load after destroying the marker: %v; want ErrNotFound", err)
					}
				}
			})

			t.Run("connect-redis's scans see only sessions", func(t *testing.T) {
				var mu sync.Mutex // ForEachMaster runs the masters at once
				var keys []string
				err := forEachMaster(ctx, client, func(c *redis.Client) error {
					k, err := c.Keys(ctx, "sess:*").Result()
					mu.Lock()
					keys = append(keys, k...)
					mu.Unlock()
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					if len(k) > 5 && k[len(k)-7:] == ":seshat" {
						t.Fatalf("connect-redis's pattern sess:* matches seshat's side key %q", k)
					}
				}
				if len(keys) == 0 {
					t.Fatal("no session keys found: the scan tested nothing")
				}
			})
		})
	}
}

// forEachMaster runs fn on the client, or on every master of a Cluster.
func forEachMaster(ctx context.Context, c redis.UniversalClient, fn func(*redis.Client) error) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return fn(m) })
	}
	return fn(c.(*redis.Client))
}
