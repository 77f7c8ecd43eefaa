package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// TestLayoutChange: a store that writes one layout keeps every session
// written in the other: it reads, writes, counts, lists, scans, sweeps,
// takes and destroys them, and sessions it creates go to its own layout.
// Both directions, on one server and on a Cluster.
func TestLayoutChange(t *testing.T) {
	t.Parallel()
	for _, top := range redistest.Topologies() {
		if top.Name == "sentinel" {
			continue // one master, as standalone
		}
		t.Run(top.Name, func(t *testing.T) {
			d := top.Start(t)
			for _, dir := range [][2]Layout{{LayoutBuckets, LayoutSlots}, {LayoutSlots, LayoutBuckets}} {
				t.Run(fmt.Sprintf("from=%d/to=%d", dir[0], dir[1]), func(t *testing.T) {
					c := d.Client(t)
					prefix := fmt.Sprintf("lc%d%d:", dir[0], dir[1])
					before, err := New(c, Options{Prefix: prefix, Layout: dir[0]})
					if err != nil {
						t.Fatal(err)
					}
					after, _ := New(c, Options{Prefix: prefix, Layout: dir[1]})
					checkLayoutChange(t, before, after)
				})
			}
		})
	}
}

func checkLayoutChange(t *testing.T, before, after *Store) {
	ctx := context.Background()
	now := time.Now()
	rec := func(user string) *store.Record {
		return &store.Record{Values: map[string][]byte{"views": []byte("1")}, User: user,
			Created: now, Touched: now, IdleTimeout: time.Hour, Deadline: now.Add(24 * time.Hour)}
	}
	const old, fresh = 40, 10
	var olds, news []string
	for i := range old {
		k := fmt.Sprintf("old%02d", i)
		user := ""
		if i%4 == 0 {
			user = "ann"
		}
		if err := before.Create(ctx, k, rec(user)); err != nil {
			t.Fatal(err)
		}
		olds = append(olds, k)
	}
	for i := range fresh {
		k := fmt.Sprintf("new%02d", i)
		if err := after.Create(ctx, k, rec("ann")); err != nil {
			t.Fatal(err)
		}
		news = append(news, k)
	}
	// Each where its store writes.
	for _, c := range []struct {
		s    *Store
		keys []string
	}{{before, olds}, {after, news}} {
		for _, k := range c.keys {
			if n, err := after.client.Exists(ctx, c.s.sessionKeyIn(c.s.layout, k)).Result(); err != nil || n != 1 {
				t.Fatalf("session %s is not under its layout's key %s", k, c.s.sessionKeyIn(c.s.layout, k))
			}
		}
	}
	load := func(s *Store, k string) (*store.Record, error) {
		return s.Load(ctx, k, store.LoadOptions{Now: now, TouchAfter: time.Minute})
	}
	for _, k := range append(append([]string{}, olds...), news...) {
		for _, s := range []*Store{before, after} {
			if r, err := load(s, k); err != nil || string(r.Values["views"]) != "1" {
				t.Fatalf("store of layout %d loads %s: %v, %v", s.layout, k, r, err)
			}
		}
	}
	// As on Redis 6.2, which refuses countmany.lua: count.lua per bucket.
	perBucket, _ := New(after.client, Options{Prefix: after.prefix, Layout: after.layout})
	perBucket.noCountMany.Store(true)
	count := func(want int) {
		t.Helper()
		for _, s := range []*Store{before, after, perBucket} {
			if n, err := s.Count(ctx, now); err != nil || n != int64(want) {
				t.Fatalf("Count by the store of layout %d (bucket by bucket: %v) = %d, %v; want %d",
					s.layout, s.noCountMany.Load(), n, err, want)
			}
		}
	}
	count(old + fresh)
	var scanned int
	if err := after.Scan(ctx, now, 7, func(infos []store.SessionInfo) error { scanned += len(infos); return nil }); err != nil || scanned != old+fresh {
		t.Fatalf("Scan found %d sessions, %v; want %d", scanned, err, old+fresh)
	}
	listed, err := after.UserSessions(ctx, "ann", now)
	if err != nil || len(listed) != old/4+fresh {
		t.Fatalf("UserSessions(ann) = %d sessions, %v; want %d", len(listed), err, old/4+fresh)
	}
	// The sweeper finds every listed session alive, in either layout.
	if err := after.SweepExpired(ctx, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := after.client.XLen(ctx, after.eventsKey()).Result(); err != nil || n != 0 {
		t.Fatalf("the sweeper reported %d live sessions expired (%v)", n, err)
	}
	// Writes to an old session stay in its layout.
	by := "bob"
	if _, err := after.Commit(ctx, olds[1], &store.Delta{Now: now, Set: map[string][]byte{"k": []byte("v")}, User: &by}); err != nil {
		t.Fatal(err)
	}
	if r, err := after.Commit(ctx, olds[1], &store.Delta{Now: now, Incr: &store.Incr{Name: "views", By: 2}}); err != nil || r.Value != 3 {
		t.Fatalf("increment of an old session = %v, %v; want 3", r.Value, err)
	}
	if r, err := load(before, olds[1]); err != nil || string(r.Values["k"]) != "v" || string(r.Values["views"]) != "3" || r.User != "bob" {
		t.Fatalf("old session after writes through the new store: %+v, %v", r, err)
	}
	if l, err := after.UserSessions(ctx, "bob", now); err != nil || len(l) != 1 {
		t.Fatalf("UserSessions(bob) = %v, %v", l, err)
	}
	// Take (regenerate) and destroy old sessions.
	if r, err := after.Take(ctx, olds[2], now); err != nil || string(r.Values["views"]) != "1" {
		t.Fatalf("Take of an old session: %v, %v", r, err)
	}
	if _, err := load(after, olds[2]); !errors.Is(err, store.ErrMoved) {
		t.Fatalf("Load after Take: %v; want ErrMoved", err)
	}
	for _, k := range []string{olds[3], news[0]} {
		if err := after.Destroy(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := load(after, k); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Load after Destroy of %s: %v; want ErrNotFound", k, err)
		}
	}
	count(old + fresh - 3)
	// Revoking a user's sessions reaches both layouts.
	listed, _ = after.UserSessions(ctx, "ann", now)
	for _, in := range listed {
		if err := after.Destroy(ctx, in.Key); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := after.UserSessions(ctx, "ann", now); err != nil || len(l) != 0 {
		t.Fatalf("UserSessions(ann) after revoking all: %d, %v", len(l), err)
	}
	count(old + fresh - 3 - len(listed))
}
