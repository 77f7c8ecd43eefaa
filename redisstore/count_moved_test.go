package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// A count whose map of slots is out of date (a slot moved, or is moving,
// between CLUSTER SLOTS and the script) still counts every session: a
// count hash that is not local to the node running countmany.lua is
// counted again on its own, following the redirection, not taken for a
// foreign key. Here every chunk names the count hashes of all masters, as
// a map gone wholly stale would.
func TestCountNonLocalHashes(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	client := c.Client(t)
	s, err := New(client, Options{Prefix: "moved:"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	const n = 300
	for i := range n {
		rec := &store.Record{Values: map[string][]byte{"v": []byte("1")}, Created: now, Touched: now,
			IdleTimeout: time.Hour, Deadline: now.Add(time.Hour)}
		if err := s.Create(ctx, countKey(i), rec); err != nil {
			t.Fatal(err)
		}
	}
	all := s.countHashes()[legacyBuckets:]
	args := s.countArgs[legacyBuckets:]
	// Chunks of consecutive slots, each routed by its first key: every
	// chunk spans the three masters' slot ranges only if it is large, so
	// take every 8th slot, which spreads each chunk over all of them.
	var keys []string
	var kargs []any
	for i := 0; i < len(all); i += 8 {
		keys, kargs = append(keys, all[i]), append(kargs, args[i])
	}
	got, foreign, err := s.countMany(ctx, time.Now(), groupsOf(keys, kargs, 512))
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for i := range n {
		if slotOf(LayoutSlots.tag(countKey(i)))%8 == 0 {
			want++
		}
	}
	if got != want || len(foreign) != 0 {
		t.Fatalf("count over chunks spanning all masters = %d (foreign: %d keys); want %d, none foreign", got, len(foreign), want)
	}
	if want == 0 {
		t.Fatal("no session landed in the slots counted: the test proves nothing")
	}
}

func countKey(i int) string {
	return "k" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
}
