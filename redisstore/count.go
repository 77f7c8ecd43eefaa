package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// countChunk is how many count hashes one countmany.lua call reads: about
// a millisecond of Redis's time, so that a count delays no request by
// more (a script runs alone).
const countChunk = 1024

// Count implements store.Counter: it reads the count hash of every
// bucket of both layouts, many per script call (countmany.lua, grouped
// by the node that holds them on a Cluster), each subtracting the
// sessions whose expiry has passed since the last count. Its cost does
// not grow with the number of sessions. A bucket whose count hash holds
// something seshat did not write is left out (Stats names it).
func (s *Store) Count(ctx context.Context, now time.Time) (int64, error) {
	n, _, err := s.count(ctx, now)
	return n, err
}

// countHashes returns the count hash of every bucket: the 256 of
// LayoutBuckets, then the 16,384 of LayoutSlots.
func (s *Store) countHashes() []string {
	s.countOnce.Do(func() {
		s.counts = make([]string, 0, legacyBuckets+clusterSlots)
		for b := range legacyBuckets {
			s.counts = append(s.counts, fmt.Sprintf("%s{%02x}#", s.prefix, b))
		}
		for slot := range clusterSlots {
			s.counts = append(s.counts, s.prefix+"{"+slotTag(slot)+"}#")
		}
		// Boxed once: 16,640 arguments boxed at every count are most of
		// what a count costs the client.
		s.countArgs = make([]any, len(s.counts))
		for i, k := range s.counts {
			s.countArgs[i] = k
		}
		s.localGroups = append(groupsOf(s.counts[:legacyBuckets], s.countArgs[:legacyBuckets], countChunk),
			groupsOf(s.counts[legacyBuckets:], s.countArgs[legacyBuckets:], countChunk)...)
	})
	return s.counts
}

// countGroup is count hashes that one countmany.lua call reads: keys, and
// the same boxed as arguments.
type countGroup struct {
	keys []string
	args []any
}

// groupsOf cuts keys into groups of size.
func groupsOf(keys []string, args []any, size int) []countGroup {
	var out []countGroup
	for len(keys) > 0 {
		n := min(len(keys), size)
		out = append(out, countGroup{keys: keys[:n:n], args: args[:n:n]})
		keys, args = keys[n:], args[n:]
	}
	return out
}

// count is Count, also naming the count hashes it could not read.
func (s *Store) count(ctx context.Context, now time.Time) (int64, []string, error) {
	if s.noCountMany.Load() {
		return s.countEach(ctx, now, s.countHashes())
	}
	groups, err := s.countGroups(ctx)
	if err != nil {
		return 0, nil, s.fail("count", err)
	}
	return s.countMany(ctx, now, groups)
}

// countGroups returns the count hashes in groups that one script call
// can read: on a Cluster, each group's hashes are on one master (by
// CLUSTER SLOTS, read at every count: slots move); elsewhere, each layout's
// apart, those of which some exist.
func (s *Store) countGroups(ctx context.Context) ([]countGroup, error) {
	all := s.countHashes()
	cc, ok := s.client.(*redis.ClusterClient)
	if !ok {
		return s.present(ctx, s.localGroups)
	}
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	var owner [clusterSlots]string
	for _, r := range slots {
		if len(r.Nodes) == 0 {
			continue
		}
		for i := r.Start; i <= r.End && i < clusterSlots; i++ {
			owner[i] = r.Nodes[0].Addr
		}
	}
	type node struct {
		keys []string
		args []any
	}
	byNode := map[string]*node{}
	var order []*node
	for i, k := range all {
		addr := owner[slotOf(tagOf(k))]
		n := byNode[addr]
		if n == nil {
			n = &node{}
			byNode[addr] = n
			order = append(order, n)
		}
		n.keys, n.args = append(n.keys, k), append(n.args, s.countArgs[i])
	}
	var out []countGroup
	for _, n := range order {
		out = append(out, groupsOf(n.keys, n.args, countChunk)...)
	}
	return out, nil
}

// present returns the groups of which at least one count hash exists, by
// one EXISTS of each group's keys, pipelined: a native command reads 16,384
// absent keys in 0.14 ms, where reading them in a script costs milliseconds.
// So a store that writes one layout pays little for the other. (Only where
// one command may name keys of many slots: not on a Cluster.)
func (s *Store) present(ctx context.Context, groups []countGroup) ([]countGroup, error) {
	cmds := make([]*redis.Cmd, len(groups))
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			cmds[i] = p.Do(ctx, append([]any{"exists"}, g.args...)...)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []countGroup
	for i, c := range cmds {
		if n, _ := c.Int64(); n > 0 {
			out = append(out, groups[i])
		}
	}
	return out, nil
}

// tagOf returns the hash tag of a key ("" when it has none).
func tagOf(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// countMany runs countmany.lua on each group, pipelined (per node, at
// once, on a Cluster). A group the script cannot read (its slots moved
// since CLUSTER SLOTS) is counted bucket by bucket, which follows
// redirections; a server that refuses the script's flags (before Redis
// 7) makes this store count bucket by bucket from then on.
func (s *Store) countMany(ctx context.Context, now time.Time, groups []countGroup) (int64, []string, error) {
	if len(groups) == 0 {
		return 0, nil, nil
	}
	run := func(eval func(p redis.Pipeliner, g countGroup, args []any) *redis.Cmd) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(groups))
		_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, g := range groups {
				args := append(append(make([]any, 0, 1+len(g.args)), now.UnixMilli()), g.args...)
				cmds[i] = eval(p, g, args)
			}
			return nil
		})
		return cmds
	}
	cmds := run(func(p redis.Pipeliner, g countGroup, args []any) *redis.Cmd {
		return countManyScript.EvalSha(ctx, p, g.keys[:1], args...)
	})
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			// First count on some node: send the source once.
			cmds = run(func(p redis.Pipeliner, g countGroup, args []any) *redis.Cmd {
				return countManyScript.Eval(ctx, p, g.keys[:1], args...)
			})
			break
		}
	}
	var n int64
	var foreign, again []string
	for i, c := range cmds {
		res, err := c.Int64Slice()
		if err != nil {
			if unsupportedScript(err) {
				s.noCountMany.Store(true)
				return s.countEach(ctx, now, s.countHashes())
			}
			var rerr redis.Error
			if !errors.As(err, &rerr) {
				return 0, nil, s.fail("count", err)
			}
			again = append(again, groups[i].keys...)
			continue
		}
		if len(res) == 0 {
			return 0, nil, s.fail("count", fmt.Errorf("empty reply from countmany.lua"))
		}
		n += res[0]
		for _, j := range res[1:] {
			switch {
			case j >= 2 && int(j-2) < len(groups[i].keys):
				foreign = append(foreign, groups[i].keys[j-2])
			case j <= -2 && int(-j-2) < len(groups[i].keys):
				// Not local: its slot moved or is moving. count.lua
				// on it alone follows MOVED and ASK.
				again = append(again, groups[i].keys[-j-2])
			}
		}
	}
	if len(again) > 0 {
		m, f, err := s.countEach(ctx, now, again)
		if err != nil {
			return 0, nil, err
		}
		n += m
		foreign = append(foreign, f...)
	}
	return n, foreign, nil
}

// unsupportedScript reports whether Redis refused countmany.lua itself
// (Redis 6.2 knows no shebang), rather than the keys it was given.
func unsupportedScript(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Error compiling script") || strings.Contains(msg, "shebang")
}

// countEach runs count.lua on each count hash, pipelined: a script call
// per bucket.
func (s *Store) countEach(ctx context.Context, now time.Time, keys []string) (int64, []string, error) {
	run := func(eval func(p redis.Pipeliner, keys []string) *redis.Cmd) ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(keys))
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = eval(p, []string{k})
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run(func(p redis.Pipeliner, keys []string) *redis.Cmd {
		return countScript.EvalSha(ctx, p, keys, now.UnixMilli())
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// First count on some node: send the source once.
		cmds, err = run(func(p redis.Pipeliner, keys []string) *redis.Cmd {
			return countScript.Eval(ctx, p, keys, now.UnixMilli())
		})
	}
	if err != nil {
		return 0, nil, s.fail("count", err)
	}
	var n int64
	var foreign []string
	for i, c := range cmds {
		v, err := c.Int64()
		if err != nil {
			return 0, nil, s.fail("count", err)
		}
		if v < 0 {
			foreign = append(foreign, keys[i])
			continue
		}
		n += v
	}
	return n, foreign, nil
}
