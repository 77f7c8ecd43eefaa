package redisstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// Keys of the store's own bookkeeping that something else overwrote (a
// count hash, an operation log or a user index of the wrong type) fail no
// request, and Stats names the count hashes.
func TestForeignBookkeepingKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := srv.Client(t)
	ctx := t.Context()
	st, err := redisstore.New(client, redisstore.Options{Prefix: "fk:"})
	if err != nil {
		t.Fatal(err)
	}
	for b := range 256 {
		if b%2 == 0 {
			client.Set(ctx, fmt.Sprintf("fk:{%02x}#", b), "not a hash", 0)
		} else {
			client.HSet(ctx, fmt.Sprintf("fk:{%02x}#", b), "n", "garbage", "p", "x")
		}
	}
	client.Set(ctx, st.UserKey("mallory"), "not a sorted set", 0)
	// The operation logs of this window and the next, for every bucket.
	w := redisstore.OpWindow.Milliseconds() / 2
	for b := range 256 {
		for _, gen := range []int64{time.Now().UnixMilli() / w, time.Now().UnixMilli()/w + 1} {
			client.Set(ctx, fmt.Sprintf("fk:{%02x}#o%d", b, gen), "not a hash", 0)
		}
	}
	now := time.Now().Truncate(time.Millisecond)
	rec := func(user string) *store.Record {
		return &store.Record{Values: map[string][]byte{"n": []byte("1")}, User: user, Created: now, Touched: now,
			IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
	}
	var keys []string
	for i := range 1500 {
		k := fmt.Sprintf("k%04d", i)
		user := ""
		if i%100 == 0 {
			user = "mallory"
		}
		if err := st.Create(ctx, k, rec(user)); err != nil {
			t.Fatalf("create %d beside a foreign count hash: %v", i, err)
		}
		keys = append(keys, k)
	}
	for i, k := range keys[:300] {
		later := now.Add(10 * time.Second) // touches due, into another count slot
		if _, err := st.Commit(ctx, k, &store.Delta{Now: later, Incr: &store.Incr{Name: "n", By: 1}}); err != nil {
			t.Fatalf("increment: %v", err)
		}
		if _, err := st.Commit(ctx, k, &store.Delta{Now: later, Set: map[string][]byte{"x": []byte("y")}}); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if _, err := st.Load(ctx, k, store.LoadOptions{Now: later.Add(10 * time.Second)}); err != nil {
			t.Fatalf("load with a touch: %v", err)
		}
		switch i % 3 {
		case 0:
			if err := st.Destroy(ctx, k); err != nil {
				t.Fatalf("destroy: %v", err)
			}
		case 1:
			if _, err := st.Take(ctx, k, later); err != nil {
				t.Fatalf("take: %v", err)
			}
		}
	}
	stats, err := st.Stats(ctx, now)
	if err != nil {
		t.Fatalf("Stats beside foreign count hashes: %v", err)
	}
	if len(stats.ForeignKeys) != 256 || !strings.HasPrefix(stats.ForeignKeys[0], "fk:{00}#") {
		t.Fatalf("Stats names %d foreign keys (%.3q…); want all 256 count hashes", len(stats.ForeignKeys), stats.ForeignKeys)
	}
	if _, err := st.UserSessions(ctx, "mallory", now); err == nil || !strings.Contains(err.Error(), st.UserKey("mallory")) {
		t.Fatalf("UserSessions on a foreign index = %v; want an error naming %s", err, st.UserKey("mallory"))
	}
	u, err := st.Usage(ctx, now, 5)
	if err != nil {
		t.Fatalf("Usage beside foreign keys: %v", err)
	}
	// The count hashes, mallory's index and the 512 operation logs (what
	// Stats names, and the rest, which the administration paths scan for).
	named := map[string]bool{}
	for _, k := range u.ForeignKeys {
		named[k] = true
	}
	if len(u.ForeignKeys) != 256+1+512 || !named[st.UserKey("mallory")] || !named[fmt.Sprintf("fk:{ff}#o%d", time.Now().UnixMilli()/w)] {
		t.Fatalf("Usage names %d foreign keys (mallory's index: %v); want 256 count hashes, mallory's index and 512 operation logs",
			len(u.ForeignKeys), named[st.UserKey("mallory")])
	}
	// doctor audits the default prefix.
	def, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	client.Set(ctx, def.UserKey("mallory"), "not a sorted set", 0)
	findings, err := redisstore.Audit(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range findings {
		if f.Check == "foreign indexes" && f.Severity == store.SeverityWarning && strings.Contains(f.Message, def.UserKey("mallory")) {
			found = true
		}
	}
	if !found {
		t.Fatalf("doctor's findings %+v name no foreign user index", findings)
	}
}

// A handle from outside (an administrative call) that names the store's
// own keys reaches nothing.
func TestHandlesCannotReachBookkeeping(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	st, err := redisstore.New(srv.Client(t), redisstore.Options{Prefix: "hk:"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	for i := range 300 {
		if err := st.Create(ctx, fmt.Sprintf("k%d", i), &store.Record{Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"#", "#o1", "{00}#", "", "x}y"} {
		st.Destroy(ctx, h)
		if _, err := st.Load(ctx, h, store.LoadOptions{Now: now}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Load(%q) = %v; want ErrNotFound", h, err)
		}
		if _, err := st.Take(ctx, h, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Take(%q) = %v; want ErrNotFound", h, err)
		}
		if _, err := st.Commit(ctx, h, &store.Delta{Now: now, Set: map[string][]byte{"a": []byte("b")}}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Commit(%q) = %v; want ErrNotFound", h, err)
		}
	}
	if n, err := st.Count(ctx, now); n != 300 || err != nil {
		t.Fatalf("after destroys of handles naming bookkeeping keys the count is %d (%v); want 300", n, err)
	}
}
