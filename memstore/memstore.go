// Package memstore is seshat's embedded in-memory store: the default for
// development, tests and single-process deployments.
//
// Every operation runs under a lock of the session's shard, so it is atomic
// with respect to every other operation on the same session.
//
// Memory is bounded without help from the traffic. A background goroutine
// reclaims expired sessions every Options.SweepInterval, a few hundred per
// hold of a shard's lock, so memory follows the live sessions even when no
// request arrives. Options.MaxSessions caps the sessions held at all: at the
// cap, the least recently used session bound to no user makes room for the
// new one, so a flood of new visitors can neither grow the process without
// limit nor log out a signed-in user. Sessions are kept packed: a small one
// costs under 200 bytes of heap (BenchmarkMemory1M).
//
// Close stops the goroutine. A Store dropped without Close stops it when the
// garbage collector reclaims the Store.
package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/seshat-go/seshat/store"
)

// DefaultMaxSessions is the cap on sessions when Options.MaxSessions is
// zero. A million small sessions take under 200 MB of heap, which one
// process can afford, and a million distinct visitors within one idle
// timeout is more than one process usually serves: the cap bites under a
// flood, not under real traffic.
const DefaultMaxSessions = 1_000_000

// DefaultSweepInterval is how often expired sessions are reclaimed when
// Options.SweepInterval is zero. A sweep walks every session, about a
// tenth of a second of one core per million sessions, so once a minute
// costs a fraction of a percent; and an expired session then stays at most
// a minute, a thirtieth of seshat's default idle timeout.
const DefaultSweepInterval = time.Minute

// Options configures a Store. The zero value gives the defaults.
type Options struct {
	// MaxSessions caps the entries the store holds: sessions, and the
	// markers Take leaves for store.MovedGrace. At the cap, Create evicts
	// the least recently used (created, loaded or committed) anonymous
	// entry, one bound to no user: visitors flooding the site with new
	// cookies push out each other and idle visitors, never a signed-in
	// user, and a visitor who keeps coming back stays. Only when every
	// entry is bound to a user does Create refuse, with an error wrapping
	// store.ErrFull (HTTP 507 through seshat.StatusCode): logging a user
	// out to let an anonymous visitor in would be the wrong trade. (Expired
	// sessions count until the sweeper reclaims them.)
	//
	// Eviction is O(1): the order is exact in a store of up to 2,047
	// sessions; a larger one is split into up to 32 shards of at least
	// 1,024 sessions, each with its own order, and evicts from the new
	// session's shard, on average the 32nd least recently used session of
	// the store.
	//
	// The cap counts sessions, not bytes: lower it if sessions are large.
	// Default: DefaultMaxSessions. Negative is an error; there is no
	// unlimited, but math.MaxInt comes close.
	MaxSessions int
	// SweepInterval is how often a background goroutine reclaims expired
	// sessions and markers, by the wall clock: a session is gone at most
	// one interval (plus the length of a sweep) after it expired. A sweep
	// goes shard by shard, letting the shard's lock go every 256 sessions;
	// the one longer hold is when a shard's map has shrunk to a quarter of
	// its peak and is rebuilt to give its room back: a copy of a quarter
	// of a shard at most, 7,813 entries at the default cap. Default:
	// DefaultSweepInterval. Negative is an error.
	SweepInterval time.Duration
}

// maxShards is how many shards a store of DefaultMaxSessions has. Each
// has its own lock and LRU list; a smaller store has fewer, so that each
// holds at least minShardSessions at the cap (see evict).
const (
	maxShards        = 32
	minShardSessions = 1024
)

// Store is an in-memory store.Store. The zero value is not usable; call New
// or NewWithOptions.
type Store struct {
	seed   maphash.Seed
	shards []shard
	max    int64

	// count is the entries held, plus the Creates that reserved room for
	// one and have not stored it yet: never above max.
	count   atomic.Int64
	evicted atomic.Int64

	now     func() time.Time // the sweeper's clock
	sweepMu sync.Mutex       // one sweep at a time
	stop    *stopper

	usersMu   sync.Mutex
	users     map[string]map[string]struct{} // user -> session keys
	usersPeak int                            // the most users since users was last rebuilt

	eventsMu  sync.Mutex
	followers map[chan store.LifecycleEvent]struct{}
	expired   []store.LifecycleEvent // reclaimed by a sweep, not yet reported
}

// maxPendingExpired bounds the expiries kept for SweepExpired when nobody
// calls it.
const maxPendingExpired = 10000

var (
	_ store.Store         = (*Store)(nil)
	_ store.UserIndex     = (*Store)(nil)
	_ store.Counter       = (*Store)(nil)
	_ store.Iterator      = (*Store)(nil)
	_ store.StatsReporter = (*Store)(nil)
	_ store.EventLog      = (*Store)(nil)
	_ store.Immediate     = (*Store)(nil)
)

// New returns an empty store with the default Options.
func New() *Store {
	return newStore(Options{}, time.Now)
}

// NewWithOptions returns an empty store configured by opts, or an error if
// opts is invalid.
func NewWithOptions(opts Options) (*Store, error) {
	if opts.MaxSessions < 0 {
		return nil, fmt.Errorf("memstore: MaxSessions %d is negative", opts.MaxSessions)
	}
	if opts.SweepInterval < 0 {
		return nil, fmt.Errorf("memstore: SweepInterval %v is negative", opts.SweepInterval)
	}
	return newStore(opts, time.Now), nil
}

// newStore starts the sweeper on the clock now; opts is valid.
func newStore(opts Options, now func() time.Time) *Store {
	if opts.MaxSessions == 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	s := &Store{seed: maphash.MakeSeed(), max: int64(opts.MaxSessions), now: now,
		users: make(map[string]map[string]struct{}), followers: make(map[chan store.LifecycleEvent]struct{})}
	s.shards = make([]shard, min(maxShards, max(1, opts.MaxSessions/minShardSessions)))
	for i := range s.shards {
		s.shards[i].init()
	}
	// The sweeper holds the store only through a weak pointer, so a store
	// nobody references is collected, and its cleanup stops the sweeper.
	s.stop = &stopper{ch: make(chan struct{}), done: make(chan struct{})}
	go sweeper(weak.Make(s), opts.SweepInterval, s.stop)
	runtime.AddCleanup(s, (*stopper).signal, s.stop)
	return s
}

// Close stops the background sweeper and waits until it has. It is
// idempotent and returns nil. The store keeps working afterwards, but
// expired sessions are then reclaimed only when they are accessed.
func (s *Store) Close() error {
	s.stop.signal()
	<-s.stop.done
	return nil
}

func (s *Store) shardIndex(key string) int {
	return int(maphash.String(s.seed, key) % uint64(len(s.shards)))
}

func (s *Store) shard(key string) *shard {
	return &s.shards[s.shardIndex(key)]
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, key string, opts store.LoadOptions) (*store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: load: %w", err)
	}
	now := nanos(opts.Now)
	sh := s.shard(key)
	sh.mu.Lock()
	e := s.lookup(sh, key, now, opts.Now)
	switch {
	case e == nil:
		sh.mu.Unlock()
		return nil, fmt.Errorf("memstore: load: %w", store.ErrNotFound)
	case e.isMarker():
		sh.mu.Unlock()
		return nil, fmt.Errorf("memstore: load: %w", store.ErrMoved)
	}
	if elapsed(now, e.touched) >= int64(opts.TouchAfter) {
		e.touched = now
	}
	sh.used(e)
	c := *e
	sh.mu.Unlock()
	return c.record(), nil
}

// Create implements store.Store. At Options.MaxSessions it evicts the least
// recently used anonymous session, or fails with store.ErrFull if every
// session is bound to a user.
func (s *Store) Create(ctx context.Context, key string, rec *store.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: create: %w", err)
	}
	e := newEntry(key, rec)
	now := e.touched
	if e.expired(now) {
		// Already expired: storing it would keep a dead session.
		return nil
	}
	i := s.shardIndex(key)
	if !s.reserve(i) {
		return fmt.Errorf("memstore: create: at MaxSessions (%d), all bound to a user: %w", s.max, store.ErrFull)
	}
	sh := &s.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old := sh.entries[key]; old != nil {
		if !old.isMarker() && !old.expired(now) {
			s.count.Add(-1)
			return fmt.Errorf("memstore: create: %w", store.ErrExists)
		}
		// An expired session, or a marker: Create may take the key over.
		s.expire(sh, old, rec.Touched)
	}
	s.insert(sh, e)
	return nil
}

// Destroy implements store.Store.
func (s *Store) Destroy(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: destroy: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	if e := sh.entries[key]; e != nil {
		s.remove(sh, e)
	}
	sh.mu.Unlock()
	return nil
}

// Take implements store.Store. On a key whose session an earlier Take
// moved less than store.MovedGrace ago, it fails with store.ErrMoved.
func (s *Store) Take(ctx context.Context, key string, at time.Time) (*store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: take: %w", err)
	}
	now := nanos(at)
	sh := s.shard(key)
	sh.mu.Lock()
	e := s.lookup(sh, key, now, at)
	switch {
	case e == nil:
		sh.mu.Unlock()
		return nil, fmt.Errorf("memstore: take: %w", store.ErrNotFound)
	case e.isMarker():
		sh.mu.Unlock()
		return nil, fmt.Errorf("memstore: take: %w", store.ErrMoved)
	}
	c := *e
	// The session becomes its own marker, anonymous like every marker.
	if e.user != "" {
		s.bind(sh, e, "")
	}
	e.data, e.idle, e.touched, e.deadline = "", 0, now, nanos(at.Add(store.MovedGrace))
	sh.markers++
	sh.used(e)
	sh.mu.Unlock()
	return c.record(), nil
}
