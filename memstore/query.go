package memstore

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/seshat-go/seshat/store"
)

// UserSessions implements store.UserIndex.
func (s *Store) UserSessions(ctx context.Context, user string, at time.Time) ([]store.SessionInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: user sessions: %w", err)
	}
	s.usersMu.Lock()
	keys := make([]string, 0, len(s.users[user]))
	for k := range s.users[user] {
		keys = append(keys, k)
	}
	s.usersMu.Unlock()

	now := nanos(at)
	infos := make([]store.SessionInfo, 0, len(keys))
	for _, key := range keys {
		sh := s.shard(key)
		sh.mu.Lock()
		if e := s.lookup(sh, key, now, at); e != nil && !e.isMarker() && e.user == user {
			infos = append(infos, e.info())
		}
		sh.mu.Unlock()
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Created.Before(infos[j].Created) })
	return infos, nil
}

func (s *Store) index(user, key string) {
	s.usersMu.Lock()
	set := s.users[user]
	if set == nil {
		set = make(map[string]struct{})
		s.users[user] = set
		s.usersPeak = max(s.usersPeak, len(s.users))
	}
	set[key] = struct{}{}
	s.usersMu.Unlock()
}

func (s *Store) unindex(user, key string) {
	s.usersMu.Lock()
	if set := s.users[user]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(s.users, user)
		}
	}
	s.usersMu.Unlock()
}

// Count implements store.Counter. It walks every session, letting each
// shard's lock go every few hundred.
func (s *Store) Count(ctx context.Context, at time.Time) (int64, error) {
	now := nanos(at)
	var n int64
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.walk(func(e *entry) bool {
			if !e.isMarker() && !e.expired(now) {
				n++
			}
			return true
		})
		sh.mu.Unlock()
	}
	return n, nil
}

// Scan implements store.Iterator. It calls fn without holding any lock, so
// fn may use the store.
func (s *Store) Scan(ctx context.Context, at time.Time, batch int, fn func([]store.SessionInfo) error) error {
	if batch <= 0 {
		batch = 100
	}
	now := nanos(at)
	infos := make([]store.SessionInfo, 0, batch)
	call := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(infos)
		infos = make([]store.SessionInfo, 0, batch) // fn may keep the batch
		return err
	}
	var err error
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.walk(func(e *entry) bool {
			if e.isMarker() || e.expired(now) {
				return true
			}
			infos = append(infos, e.info())
			if len(infos) < batch {
				return true
			}
			sh.mu.Unlock()
			err = call()
			sh.mu.Lock()
			return err == nil
		})
		sh.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if len(infos) > 0 {
		return call()
	}
	return nil
}

// Len returns how many sessions the store holds, expired ones not yet
// reclaimed included: what it costs in memory.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.entries) - sh.markers
		sh.mu.Unlock()
	}
	return n
}

// Stats implements store.StatsReporter: the live sessions, and in
// EvictedKeys the anonymous sessions (and markers) evicted at
// Options.MaxSessions since the store was made.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	n, err := s.Count(ctx, now)
	return store.Stats{Sessions: n, EvictedKeys: s.evicted.Load()}, err
}

// Immediate implements store.Immediate: the store's operations wait on
// nothing but its own locks, so the Manager gives them no deadline.
func (s *Store) Immediate() bool { return true }
