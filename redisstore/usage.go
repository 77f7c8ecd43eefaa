package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

// Usage is what `seshat stats` reports.
type Usage struct {
	// Sessions is the exact number of live sessions.
	Sessions int64 `json:"sessions"`
	// TopUsers are the users with the most live sessions, most first. User
	// is what the store keeps: the user ID, or its keyed hash when
	// encryption is on.
	TopUsers []UserSessions `json:"top_users"`
	// UsedMemory and MaxMemory are Redis's, in bytes (0: no limit).
	UsedMemory int64 `json:"used_memory_bytes"`
	MaxMemory  int64 `json:"maxmemory_bytes"`
	// EvictionPolicy is Redis's maxmemory-policy; EvictedKeys counts keys
	// evicted since Redis started.
	EvictionPolicy string `json:"eviction_policy"`
	EvictedKeys    int64  `json:"evicted_keys"`
	// AvgSessionBytes is the average MEMORY USAGE of a sample of sessions
	// (0 when the sample is empty or MEMORY USAGE is not allowed).
	AvgSessionBytes int64 `json:"avg_session_bytes"`
	// ForeignKeys names keys of seshat's bookkeeping that hold something
	// seshat did not write (see store.Stats).
	ForeignKeys []string `json:"foreign_keys"`
}

// UserSessions is one user's count of live sessions.
type UserSessions struct {
	User     string `json:"user"`
	Sessions int    `json:"sessions"`
}

// Usage counts sessions, finds the top users (scanning user indexes in
// batches: an administration command, not a request path), and samples
// session sizes.
func (s *Store) Usage(ctx context.Context, now time.Time, top int) (Usage, error) {
	var u Usage
	st, err := s.Stats(ctx, now)
	if err != nil {
		return u, err
	}
	u.Sessions, u.UsedMemory, u.MaxMemory = st.Sessions, st.UsedMemory, st.MaxMemory
	u.EvictionPolicy, u.EvictedKeys = st.EvictionPolicy, st.EvictedKeys
	others, err := s.foreignIndexes(ctx)
	if err != nil {
		return u, err
	}
	u.ForeignKeys = append(st.ForeignKeys, others...)

	// Index sizes (ZCARD may count dead entries: the top candidates are
	// then counted exactly, which also prunes them).
	type cand struct {
		key  string
		card int64
	}
	var cands []cand
	err = s.scanKeys(ctx, globEscape.Replace(s.prefix)+"u:{*}", "zset", 200, func(keys []string) error {
		cmds := make([]*redis.IntCmd, len(keys))
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.ZCard(ctx, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range keys {
			cands = append(cands, cand{k, cmds[i].Val()})
		}
		return nil
	})
	if err != nil {
		return u, s.fail("usage", err)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].card > cands[j].card })
	for _, c := range cands {
		if len(u.TopUsers) >= top || c.card == 0 {
			break
		}
		members, err := s.client.ZRange(ctx, c.key, 0, 0).Result() // "~<user>" has score -1: first
		if err != nil || len(members) == 0 || !strings.HasPrefix(members[0], "~") {
			continue
		}
		user := members[0][1:]
		infos, err := s.UserSessions(ctx, user, now)
		if err != nil {
			return u, err
		}
		if len(infos) > 0 {
			u.TopUsers = append(u.TopUsers, UserSessions{User: user, Sessions: len(infos)})
		}
	}
	sort.SliceStable(u.TopUsers, func(i, j int) bool { return u.TopUsers[i].Sessions > u.TopUsers[j].Sessions })

	// Average size of up to 100 sessions.
	var total, n int64
	errStop := errors.New("enough")
	err = s.Scan(ctx, now, 100, func(infos []store.SessionInfo) error {
		for _, in := range infos {
			var b int64
			var err error
			for _, l := range s.layouts() {
				if b, err = s.client.MemoryUsage(ctx, s.sessionKeyIn(l, in.Key)).Result(); !errors.Is(err, redis.Nil) {
					break
				}
			}
			if err != nil {
				return errStop
			}
			total, n = total+b, n+1
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return u, err
	}
	if n > 0 {
		u.AvgSessionBytes = total / n
	}
	return u, nil
}

// scanKeys runs SCAN with a pattern, type and batch size (COUNT) on every
// master, one after the other.
func (s *Store) scanKeys(ctx context.Context, pattern, typ string, batch int, fn func([]string) error) error {
	return s.forEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.ScanType(ctx, cursor, pattern, int64(batch), typ).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := fn(keys); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
}

// forEachMaster calls fn for the one server, or for every Cluster master
// one after the other (go-redis's ForEachMaster runs them at once).
func (s *Store) forEachMaster(ctx context.Context, fn func(context.Context, *redis.Client) error) error {
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		var masters []*redis.Client
		err := c.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
			mu.Lock()
			masters = append(masters, m)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range masters {
			if err := fn(ctx, m); err != nil {
				return err
			}
		}
		return nil
	case *redis.Client:
		return fn(ctx, c)
	}
	return fmt.Errorf("redisstore: a client of type %T has no masters to visit", s.client)
}
