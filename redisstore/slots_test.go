package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/redisstore/redistest"
)

// TestCRC16: the specification's check value, and slots Redis reports.
func TestCRC16(t *testing.T) {
	for _, c := range []struct {
		key  string
		slot int
	}{{"123456789", 0x31c3}, {"somekey", 11058}, {"06S", 0}, {"", 0}} {
		if got := slotOf(c.key); got != c.slot {
			t.Errorf("slot of %q = %d, want %d", c.key, got, c.slot)
		}
	}
}

// TestSlotTags: every slot's tag lands on it, as a Cluster node computes
// it; and the table is the one stores were written with (a different
// table would strand every session of the slots layout).
func TestSlotTags(t *testing.T) {
	t.Parallel()
	h := sha256.New()
	seen := map[string]bool{}
	for s := range clusterSlots {
		tag := slotTag(s)
		if slotOf(tag) != s || len(tag) != 3 || seen[tag] {
			t.Fatalf("slot %d: tag %q lands on %d (or repeats)", s, tag, slotOf(tag))
		}
		seen[tag] = true
		h.Write([]byte(tag))
	}
	const pinned = "22a382faa224f82f4fd294f364728a852b2994681d661858723892c5c1dceb09"
	if got := hex.EncodeToString(h.Sum(nil)); got != pinned {
		t.Errorf("the tag table changed: sha256 %s, want %s", got, pinned)
	}
	srv := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	c := srv.Client(t)
	ctx := context.Background()
	cmds := make([]*redis.IntCmd, clusterSlots)
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s := range cmds {
			cmds[s] = p.ClusterKeySlot(ctx, "seshat:{"+slotTag(s)+"}k")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for s, cmd := range cmds {
		if cmd.Val() != int64(s) {
			t.Fatalf("CLUSTER KEYSLOT of slot %d's tag %q = %d", s, slotTag(s), cmd.Val())
		}
	}
}
