package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// keysOfBucket returns n store keys that share one bucket, so that their
// sessions share one count hash.
func keysOfBucket(n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := fmt.Sprintf("k%d", i); bucket(k) == "2a" {
			keys = append(keys, k)
		}
	}
	return keys
}

// A create that finds exactly what it writes is its own replay (a retry
// after a lost reply) and succeeds, once; anything else under the key
// refuses it.
func TestCreateReplay(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := srv.Client(t)
	s, _ := New(c, Options{})
	ctx := context.Background()
	now := time.Now()
	rec := &store.Record{Values: map[string][]byte{"a": []byte("1"), "b": []byte("")}, User: "u",
		Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
	run := func(key string, r *store.Record) int {
		t.Helper()
		n, err := createScript.Run(ctx, c, s.keysIn(s.layout, key), createArgs(r)...).Int()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	keys := keysOfBucket(2)
	if got := run(keys[0], rec); got != 1 {
		t.Fatalf("create = %d; want 1", got)
	}
	if got := run(keys[0], rec); got != 1 {
		t.Fatalf("the replay of a create = %d; want 1", got)
	}
	if n, err := s.Count(ctx, now); n != 1 || err != nil {
		t.Fatalf("after a create and its replay, Count = %d, %v; want 1", n, err)
	}
	for name, other := range map[string]func(r *store.Record){
		"another value":     func(r *store.Record) { r.Values = map[string][]byte{"a": []byte("2"), "b": []byte("")} },
		"a value fewer":     func(r *store.Record) { r.Values = map[string][]byte{"a": []byte("1")} },
		"a value more":      func(r *store.Record) { r.Values = map[string][]byte{"a": []byte("1"), "b": []byte(""), "c": nil} },
		"another user":      func(r *store.Record) { r.User = "v" },
		"no user":           func(r *store.Record) { r.User = "" },
		"another time":      func(r *store.Record) { r.Touched = r.Touched.Add(time.Millisecond) },
		"another expiry":    func(r *store.Record) { r.IdleTimeout += time.Millisecond },
		"another same-size": func(r *store.Record) { r.Values = map[string][]byte{"b": []byte("1"), "a": []byte("")} },
	} {
		r := *rec
		other(&r)
		if got := run(keys[0], &r); got != 0 {
			t.Errorf("create of a taken key (%s) = %d; want 0", name, got)
		}
	}
	if _, err := s.Take(ctx, keys[0], now); err != nil {
		t.Fatal(err)
	}
	if got := run(keys[0], rec); got != 0 {
		t.Errorf("create over a moved marker = %d; want 0", got)
	}
	c.Set(ctx, s.SessionKey(keys[1]), "not a hash", time.Hour)
	if got := run(keys[1], rec); got != 0 {
		t.Errorf("create over a foreign key = %d; want 0", got)
	}
	if n, err := s.Count(ctx, now); n != 0 || err != nil {
		t.Fatalf("Count = %d, %v; want 0", n, err)
	}
}

// The count of one bucket stays exact through creations, touches, writes,
// destroys and takes of sessions that share expiry slots (count_add's
// common case) and cross them: Count always equals the sessions stored
// whose expiry slot has not passed. Counted by count.lua (one bucket) and
// by countmany.lua (many: a few slots passed, count_step; more,
// count_prune).
func TestCountSharedSlots(t *testing.T) {
	t.Parallel()
	t.Run("count.lua", func(t *testing.T) {
		testCountSharedSlots(t, func(ctx context.Context, c *redis.Client, hash string, now time.Time) (int64, error) {
			return countScript.Run(ctx, c, []string{hash}, now.UnixMilli()).Int64()
		})
	})
	t.Run("countmany.lua", func(t *testing.T) {
		testCountSharedSlots(t, func(ctx context.Context, c *redis.Client, hash string, now time.Time) (int64, error) {
			res, err := countManyScript.Run(ctx, c, []string{hash}, now.UnixMilli(), hash).Int64Slice()
			if err == nil && len(res) != 1 {
				err = fmt.Errorf("countmany.lua answered %v", res)
			}
			if err != nil {
				return 0, err
			}
			return res[0], nil
		})
	})
}

func testCountSharedSlots(t *testing.T, count func(ctx context.Context, c *redis.Client, hash string, now time.Time) (int64, error)) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	s, _ := New(c, Options{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := keysOfBucket(60)
	slotMs := int64(5000) // SLOT in the prelude
	// Far ahead of Redis's clock, so that Redis expires nothing by itself.
	now := time.Now().Add(time.Hour).Truncate(time.Second)
	want := func() int64 {
		cmds := make([]*redis.StringCmd, len(keys))
		c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HGet(ctx, s.SessionKey(k), "@")
			}
			return nil
		})
		var n int64
		for _, cmd := range cmds {
			raw, err := cmd.Result()
			if err != nil {
				continue // none, or a moved marker
			}
			rec, err := parseMeta(raw)
			if err != nil {
				t.Fatal(err)
			}
			exp := rec.ExpiresAt().UnixMilli()
			if (exp+slotMs-1)/slotMs > now.UnixMilli()/slotMs {
				n++
			}
		}
		return n
	}
	for step := range 3000 {
		k := keys[rng.IntN(len(keys))]
		switch op := rng.IntN(10); {
		case op < 4:
			rec := &store.Record{Values: map[string][]byte{"n": []byte("1")}, Created: now, Touched: now,
				IdleTimeout: time.Duration(1+rng.IntN(20000)) * time.Millisecond,
				Deadline:    now.Add(time.Duration(1+rng.IntN(60)) * time.Second)}
			if err := s.Create(ctx, k, rec); err != nil && !errors.Is(err, store.ErrExists) {
				t.Fatal(err)
			}
		case op < 5:
			s.Load(ctx, k, store.LoadOptions{Now: now, TouchAfter: time.Duration(rng.IntN(3)) * time.Second})
		case op < 6:
			s.Commit(ctx, k, &store.Delta{Now: now, TouchAfter: time.Duration(rng.IntN(3)) * time.Second,
				Incr: &store.Incr{Name: "n", By: 1}})
		case op < 7:
			s.Destroy(ctx, k)
		case op < 8:
			s.Take(ctx, k, now)
			c.Del(ctx, s.SessionKey(k)) // the marker, so the key can be created again
		case op < 9:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		default:
			now = now.Add(time.Duration(rng.IntN(12000)) * time.Millisecond) // at times past two slots
			if rng.IntN(20) == 0 {
				now = now.Add(time.Duration(rng.IntN(400)) * time.Second) // at times past STEP_MAX slots
			}
		}
		got, err := count(ctx, c, s.keysIn(s.layout, keys[0])[1], now)
		if err != nil {
			t.Fatal(err)
		}
		if w := want(); got != w {
			t.Fatalf("step %d: the count = %d; %d sessions are stored whose expiry slot has not passed", step, got, w)
		}
	}
}
