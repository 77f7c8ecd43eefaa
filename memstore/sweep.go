package memstore

import (
	"context"
	"maps"
	"sync"
	"time"
	"weak"

	"github.com/seshat-go/seshat/store"
)

// stopper tells the sweeper to stop (Close, or the cleanup of a Store
// nobody references), and tells Close that it has.
type stopper struct {
	once sync.Once
	ch   chan struct{}
	done chan struct{}
}

func (st *stopper) signal() { st.once.Do(func() { close(st.ch) }) }

// sweeper sweeps every interval until stopped or until the store is
// garbage. It holds the store only while sweeping.
func sweeper(ws weak.Pointer[Store], every time.Duration, st *stopper) {
	defer close(st.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-st.ch:
			return
		case <-tick.C:
		}
		if !sweepOnce(ws) {
			return
		}
	}
}

// sweepOnce sweeps the store if it still exists, and reports whether it
// did. The strong pointer lives only in this frame.
func sweepOnce(ws weak.Pointer[Store]) bool {
	s := ws.Value()
	if s == nil {
		return false
	}
	s.sweep(s.now())
	return true
}

// sweep reclaims every entry expired at now, shard by shard, in walks that
// hold a shard's lock for walkBatch entries at a time; then it gives the
// room of deleted entries back to the heap.
func (s *Store) sweep(now time.Time) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	n := nanos(now)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.walk(func(e *entry) bool {
			if e.expired(n) {
				s.expire(sh, e, now)
			}
			return true
		})
		sh.shrink()
		sh.mu.Unlock()
	}
	s.usersMu.Lock()
	if s.usersPeak >= minShrink && len(s.users) <= s.usersPeak/4 {
		users := make(map[string]map[string]struct{}, len(s.users)) // maps.Clone would keep the room
		maps.Copy(users, s.users)
		s.users, s.usersPeak = users, len(users)
	}
	s.usersMu.Unlock()
}

func (s *Store) noteExpired(key, user string, now time.Time) {
	s.eventsMu.Lock()
	if len(s.expired) < maxPendingExpired {
		s.expired = append(s.expired, store.LifecycleEvent{Kind: "expired", Handle: key, User: user, At: now})
	}
	s.eventsMu.Unlock()
}

// Publish implements store.EventLog: the event goes to every Follow of
// this store (one process).
func (s *Store) Publish(ctx context.Context, e store.LifecycleEvent) error {
	s.eventsMu.Lock()
	defer s.eventsMu.Unlock()
	for ch := range s.followers {
		select {
		case ch <- e:
		default: // a follower that does not keep up loses events rather than blocking sessions
		}
	}
	return ctx.Err()
}

// Follow implements store.EventLog.
func (s *Store) Follow(ctx context.Context, fn func(store.LifecycleEvent)) error {
	ch := make(chan store.LifecycleEvent, 1024)
	s.eventsMu.Lock()
	s.followers[ch] = struct{}{}
	s.eventsMu.Unlock()
	defer func() {
		s.eventsMu.Lock()
		delete(s.followers, ch)
		s.eventsMu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-ch:
			fn(e)
		}
	}
}

// SweepExpired implements store.EventLog: it sweeps at now, then reports
// the sessions bound to a user that this sweep, the background sweeper or
// an access found expired since the last call (at most 10,000 of them).
func (s *Store) SweepExpired(ctx context.Context, now time.Time, _ time.Duration) error {
	s.sweep(now)
	s.eventsMu.Lock()
	pending := s.expired
	s.expired = nil
	s.eventsMu.Unlock()
	for _, e := range pending {
		if err := s.Publish(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

var _ store.EventEraser = (*Store)(nil)

// EraseUser implements store.EventEraser. The memory store keeps no log
// (Publish hands events to the followers of the moment), so there is
// nothing to remove.
func (s *Store) EraseUser(ctx context.Context, user string) (int, error) { return 0, nil }
