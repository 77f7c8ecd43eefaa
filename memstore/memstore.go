// Package memstore is seshat's embedded in-memory store: the default for
// development, tests and single-process deployments.
//
// Every operation runs under a lock of the session's shard, so it is atomic
// with respect to every other operation on the same session. Expired
// sessions are reclaimed as new ones are created, so memory stays bounded by
// the live sessions without a background goroutine.
package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seshat-go/seshat/store"
)

const shardCount = 32

// sweepEvery is the least time between two sweeps of one shard.
const sweepEvery = time.Minute

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	seed      maphash.Seed
	shards    [shardCount]shard
	lastSweep atomic.Int64 // Unix nanoseconds of the last full sweep

	usersMu sync.Mutex
	users   map[string]map[string]struct{} // user -> session keys

	eventsMu  sync.Mutex
	followers map[chan store.LifecycleEvent]struct{}
	expired   []store.LifecycleEvent // reclaimed by a sweep, not yet reported
}

// maxPendingExpired bounds the expiries kept for SweepExpired when nobody
// calls it.
const maxPendingExpired = 10000

type shard struct {
	mu       sync.Mutex
	sessions map[string]*store.Record
	moved    map[string]time.Time // Take's markers, until when
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.UserIndex     = (*Store)(nil)
	_ store.Counter       = (*Store)(nil)
	_ store.Iterator      = (*Store)(nil)
	_ store.StatsReporter = (*Store)(nil)
	_ store.EventLog      = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed(), users: make(map[string]map[string]struct{}),
		followers: make(map[chan store.LifecycleEvent]struct{})}
	for i := range s.shards {
		s.shards[i].sessions = make(map[string]*store.Record)
		s.shards[i].moved = make(map[string]time.Time)
	}
	return s
}

func (s *Store) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)%shardCount]
}

// isMoved reports whether Take left a marker on key that is still valid.
// The shard's lock must be held.
func (sh *shard) isMoved(key string, now time.Time) bool {
	until, ok := sh.moved[key]
	if ok && !now.Before(until) {
		delete(sh.moved, key)
		return false
	}
	return ok
}

// live returns the record under key if it has not expired at now. The
// shard's lock must be held.
func (s *Store) live(sh *shard, key string, now time.Time) *store.Record {
	rec := sh.sessions[key]
	if rec == nil {
		return nil
	}
	if !now.Before(rec.ExpiresAt()) {
		delete(sh.sessions, key)
		if rec.User != "" {
			s.unindex(rec.User, key)
			s.noteExpired(key, rec.User, now)
		}
		return nil
	}
	return rec
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, key string, opts store.LoadOptions) (*store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: load: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rec := s.live(sh, key, opts.Now)
	if rec == nil {
		if sh.isMoved(key, opts.Now) {
			return nil, fmt.Errorf("memstore: load: %w", store.ErrMoved)
		}
		return nil, fmt.Errorf("memstore: load: %w", store.ErrNotFound)
	}
	if opts.Now.Sub(rec.Touched) >= opts.TouchAfter {
		rec.Touched = opts.Now
	}
	return clone(rec), nil
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, rec *store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: create: %w", err)
	}
	s.maybeSweep(rec.Touched)
	sh := s.shard(key)
	sh.mu.Lock()
	if s.live(sh, key, rec.Touched) != nil {
		sh.mu.Unlock()
		return fmt.Errorf("memstore: create: %w", store.ErrExists)
	}
	if !rec.Touched.Before(rec.ExpiresAt()) {
		// Already expired: storing it would keep a dead session.
		sh.mu.Unlock()
		return nil
	}
	sh.sessions[key] = clone(rec)
	sh.mu.Unlock()
	if rec.User != "" {
		s.index(rec.User, key)
	}
	return nil
}

// maybeSweep removes every expired session when the last sweep is older
// than sweepEvery. Only Create grows the store, so sweeping there bounds
// memory by the sessions alive within the last sweepEvery.
func (s *Store) maybeSweep(now time.Time) {
	last := s.lastSweep.Load()
	if now.UnixNano()-last < int64(sweepEvery) || !s.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for key, rec := range sh.sessions {
			if !now.Before(rec.ExpiresAt()) {
				delete(sh.sessions, key)
				if rec.User != "" {
					s.unindex(rec.User, key)
					s.noteExpired(key, rec.User, now)
				}
			}
		}
		for key, until := range sh.moved {
			if !now.Before(until) {
				delete(sh.moved, key)
			}
		}
		sh.mu.Unlock()
	}
}

// Commit implements store.Store.
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	if err := ctx.Err(); err != nil {
		return store.Result{}, fmt.Errorf("memstore: commit: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rec := s.live(sh, key, d.Now)
	if rec == nil {
		if sh.isMoved(key, d.Now) {
			return store.Result{}, fmt.Errorf("memstore: commit: %w", store.ErrMoved)
		}
		return store.Result{}, fmt.Errorf("memstore: commit: %w", store.ErrNotFound)
	}
	if cur, ok := conflicts(rec, d.Expect); !ok {
		return store.Result{Current: cur}, fmt.Errorf("memstore: commit: %w", store.ErrConflict)
	}

	size := rec.Size()
	newSize := size
	for name, v := range d.Set {
		if old, ok := rec.Values[name]; ok {
			newSize -= len(name) + len(old)
		}
		newSize += len(name) + len(v)
	}
	for _, name := range d.Delete {
		if _, set := d.Set[name]; set {
			continue
		}
		if old, ok := rec.Values[name]; ok {
			newSize -= len(name) + len(old)
		}
	}
	var incrValue []byte
	var res store.Result
	if d.Incr != nil {
		var cur int64
		// Incr applies after Set and Delete.
		old, ok := d.Set[d.Incr.Name]
		if !ok && !slices.Contains(d.Delete, d.Incr.Name) {
			old, ok = rec.Values[d.Incr.Name]
		}
		if ok {
			n, err := strconv.ParseInt(string(old), 10, 64)
			if err != nil || strconv.FormatInt(n, 10) != string(old) {
				return store.Result{}, fmt.Errorf("memstore: commit: incr %q: %w", d.Incr.Name, store.ErrNotInteger)
			}
			cur = n
			newSize -= len(d.Incr.Name) + len(old)
		}
		sum := cur + d.Incr.By
		if (d.Incr.By > 0 && sum < cur) || (d.Incr.By < 0 && sum > cur) {
			return store.Result{}, fmt.Errorf("memstore: commit: incr %q: overflow: %w", d.Incr.Name, store.ErrNotInteger)
		}
		incrValue = strconv.AppendInt(nil, sum, 10)
		newSize += len(d.Incr.Name) + len(incrValue)
		res.Value = sum
	}
	if d.MaxSize > 0 && newSize > d.MaxSize && newSize > size {
		return store.Result{}, fmt.Errorf("memstore: commit: %d bytes, limit %d: %w", newSize, d.MaxSize, store.ErrTooLarge)
	}

	for _, name := range d.Delete {
		delete(rec.Values, name)
	}
	for name, v := range d.Set {
		rec.Values[name] = append([]byte(nil), v...)
	}
	if incrValue != nil {
		rec.Values[d.Incr.Name] = incrValue
	}
	if d.Now.Sub(rec.Touched) >= d.TouchAfter || d.IdleTimeout > 0 || !d.Deadline.IsZero() {
		rec.Touched = d.Now
	}
	if d.IdleTimeout > 0 {
		rec.IdleTimeout = d.IdleTimeout
	}
	if !d.Deadline.IsZero() {
		rec.Deadline = d.Deadline
	}
	if d.User != nil && *d.User != rec.User {
		if rec.User != "" {
			s.unindex(rec.User, key)
		}
		rec.User = *d.User
		if rec.User != "" {
			s.index(rec.User, key)
		}
	}
	return res, nil
}

// conflicts checks the expectations against rec. When one fails it returns
// the current values of all expected names and false.
func conflicts(rec *store.Record, expect []store.Expect) (map[string][]byte, bool) {
	ok := true
	for _, e := range expect {
		v, present := rec.Values[e.Name]
		if e.Absent == present || (present && string(v) != string(e.Value)) {
			ok = false
			break
		}
	}
	if ok {
		return nil, true
	}
	cur := make(map[string][]byte, len(expect))
	for _, e := range expect {
		if v, present := rec.Values[e.Name]; present {
			cur[e.Name] = append([]byte(nil), v...)
		}
	}
	return cur, false
}

// Destroy implements store.Store.
func (s *Store) Destroy(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: destroy: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	rec := sh.sessions[key]
	delete(sh.sessions, key)
	delete(sh.moved, key)
	sh.mu.Unlock()
	if rec != nil && rec.User != "" {
		s.unindex(rec.User, key)
	}
	return nil
}

// Take implements store.Store.
func (s *Store) Take(ctx context.Context, key string, now time.Time) (*store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: take: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	rec := s.live(sh, key, now)
	delete(sh.sessions, key)
	if rec != nil {
		sh.moved[key] = now.Add(store.MovedGrace)
	}
	sh.mu.Unlock()
	if rec == nil {
		return nil, fmt.Errorf("memstore: take: %w", store.ErrNotFound)
	}
	if rec.User != "" {
		s.unindex(rec.User, key)
	}
	return rec, nil
}

// UserSessions implements store.UserIndex.
func (s *Store) UserSessions(ctx context.Context, user string, now time.Time) ([]store.SessionInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: user sessions: %w", err)
	}
	s.usersMu.Lock()
	keys := make([]string, 0, len(s.users[user]))
	for k := range s.users[user] {
		keys = append(keys, k)
	}
	s.usersMu.Unlock()

	infos := make([]store.SessionInfo, 0, len(keys))
	for _, key := range keys {
		sh := s.shard(key)
		sh.mu.Lock()
		rec := s.live(sh, key, now)
		if rec != nil && rec.User == user {
			infos = append(infos, info(key, rec))
		}
		sh.mu.Unlock()
		if rec == nil {
			s.unindex(user, key)
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Created.Before(infos[j].Created) })
	return infos, nil
}

// Count implements store.Counter.
func (s *Store) Count(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, rec := range sh.sessions {
			if now.Before(rec.ExpiresAt()) {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n, ctx.Err()
}

func (s *Store) index(user, key string) {
	s.usersMu.Lock()
	set := s.users[user]
	if set == nil {
		set = make(map[string]struct{})
		s.users[user] = set
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

func clone(rec *store.Record) *store.Record {
	c := *rec
	c.Values = make(map[string][]byte, len(rec.Values))
	for k, v := range rec.Values {
		c.Values[k] = append([]byte(nil), v...)
	}
	return &c
}

// Scan implements store.Iterator.
func (s *Store) Scan(ctx context.Context, now time.Time, batch int, fn func([]store.SessionInfo) error) error {
	if batch <= 0 {
		batch = 100
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		infos := make([]store.SessionInfo, 0, len(sh.sessions))
		for k, rec := range sh.sessions {
			if now.Before(rec.ExpiresAt()) {
				infos = append(infos, info(k, rec))
			}
		}
		sh.mu.Unlock()
		for len(infos) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(batch, len(infos))
			if err := fn(infos[:n]); err != nil {
				return err
			}
			infos = infos[n:]
		}
	}
	return nil
}

func info(key string, rec *store.Record) store.SessionInfo {
	return store.SessionInfo{
		Key: key, User: rec.User, Created: rec.Created, Touched: rec.Touched,
		Deadline: rec.Deadline, ExpiresAt: rec.ExpiresAt(),
	}
}

// Len returns how many records the store holds, expired ones not yet
// reclaimed included: what it costs in memory.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.sessions)
		sh.mu.Unlock()
	}
	return n
}

// Stats implements store.StatsReporter: the live sessions.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	n, err := s.Count(ctx, now)
	return store.Stats{Sessions: n}, err
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

// SweepExpired implements store.EventLog: it reclaims the expired sessions
// bound to a user and reports them, with those a Create reclaimed before.
func (s *Store) SweepExpired(ctx context.Context, now time.Time, _ time.Duration) error {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for key, rec := range sh.sessions {
			if rec.User != "" && !now.Before(rec.ExpiresAt()) {
				delete(sh.sessions, key)
				s.unindex(rec.User, key)
				s.noteExpired(key, rec.User, now)
			}
		}
		sh.mu.Unlock()
	}
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
