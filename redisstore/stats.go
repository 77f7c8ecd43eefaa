package redisstore

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

var _ store.StatsReporter = (*Store)(nil)

// Info is what INFO says about one Redis server, parsed.
type Info map[string]string

// Int returns a numeric field, 0 when absent.
func (i Info) Int(name string) int64 {
	n, _ := strconv.ParseInt(i[name], 10, 64)
	return n
}

func parseInfo(s string) Info {
	info := Info{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			info[k] = v
		}
	}
	return info
}

// Infos returns INFO sections of every master (one on a standalone or
// Sentinel-managed server), keyed by address.
func (s *Store) Infos(ctx context.Context, sections ...string) (map[string]Info, error) {
	out := map[string]Info{}
	var mu sync.Mutex
	one := func(ctx context.Context, c *redis.Client) error {
		raw, err := c.Info(ctx, sections...).Result()
		if err != nil {
			return err
		}
		mu.Lock()
		out[c.Options().Addr] = parseInfo(raw)
		mu.Unlock()
		return nil
	}
	var err error
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, one)
	case *redis.Client:
		err = one(ctx, c)
	default:
		var raw string
		raw, err = s.client.Info(ctx, sections...).Result()
		out["redis"] = parseInfo(raw)
	}
	if err != nil {
		return nil, s.fail("info", err)
	}
	return out, nil
}

// Stats implements store.StatsReporter: live sessions (Count) and the count
// hashes that hold something seshat did not write (ForeignKeys), memory
// used and allowed, evictions and the eviction policy (summed over the
// masters of a Cluster), and the client's pool.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	var st store.Stats
	n, foreign, err := s.count(ctx, now)
	if err != nil {
		return st, err
	}
	st.Sessions, st.ForeignKeys = n, foreign
	infos, err := s.Infos(ctx, "memory", "stats")
	if err != nil {
		return st, err
	}
	for _, info := range infos {
		st.UsedMemory += info.Int("used_memory")
		st.MaxMemory += info.Int("maxmemory")
		st.EvictedKeys += info.Int("evicted_keys")
		st.EvictionPolicy = info["maxmemory_policy"]
	}
	if ps := s.client.PoolStats(); ps != nil {
		st.Pool = &store.PoolStats{
			Hits: uint64(ps.Hits), Misses: uint64(ps.Misses), Timeouts: uint64(ps.Timeouts),
			TotalConns: uint64(ps.TotalConns), IdleConns: uint64(ps.IdleConns),
		}
	}
	return st, nil
}
