package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// LocalCache configures the store's opt-in client-side cache: a read-only
// request is served from a copy in the process's memory, and Redis tells
// the store when a cached session changes (RESP3 CLIENT TRACKING in
// broadcast mode, on a connection of its own).
//
// What it guarantees:
//
//   - A change made anywhere (a write, a logout, a revocation, on any
//     instance) is reflected in every cached read that starts more than
//     Bound after Redis applied the change. Typically it is reflected much
//     sooner: an invalidation reaches the store within a round trip, and is
//     applied as soon as it arrives.
//   - This store's own writes are reflected at once: when Commit, Destroy,
//     Take or a touch returns, the store's cached copy is gone, and a fetch
//     that was in flight meanwhile is not cached. So a session destroyed
//     through this store is never read from its cache again (G3).
//   - When the tracking connection is down, slow or not yet set up, nothing
//     is served from the cache; reads go to Redis.
//
// How the bound holds: the tracking connection sends a heartbeat (ROLE)
// every Bound/4, at most one in flight, and Redis answers in order on the
// same connection as the invalidations. Redis sends broadcast invalidations
// at the end of an event-loop round, after that round's replies, so the
// answer to a heartbeat vouches for what Redis applied before the previous
// one was sent; the cache serves only while that send time is less than
// Bound ago.
//
// The tracking connection must be on the server the store's client uses.
// The store watches its client's dials (a hook) and pings through it every
// Bound/4, so that when the client moves (go-redis's Sentinel client drops
// its connections to a master it no longer trusts) the cache stops serving
// and the tracking connection follows, even if the old master is still up
// and still thinks it is the master. On a Cluster there is one tracking
// connection per master; the masters are looked up every second and when
// a tracking connection fails or the client dials a node none covers. The
// cache serves only while every one is fresh and flushes whenever one
// (re)connects, so a failover never leaves a stale copy behind; when slots
// move to a master that was not there before (a node added), the bound is
// one second. It needs Redis 6 or later, and for an ACL user the commands
// HELLO, ROLE, PING and CLIENT|TRACKING. Close the store to stop it.
type LocalCache struct {
	// Bound is the staleness bound described above. Default: 100 ms.
	Bound time.Duration
	// MaxEntries caps the number of cached sessions; beyond it, entries
	// are dropped at random. Default: 10,000.
	MaxEntries int
}

// CacheStats counts the cache's work since the store was opened.
type CacheStats struct {
	Hits, Misses   uint64 // reads served from the cache, and from Redis
	Invalidations  uint64 // keys invalidated by Redis
	Reconnects     uint64 // tracking connections set up again after a failure
	Entries        int    // sessions cached now
	Serving        bool   // whether the cache may serve reads now
	LastInvalidate time.Time
}

type fetch struct {
	n     int  // fetches of the key in flight
	dirty bool // invalidated meanwhile: do not cache what they bring
}

type cache struct {
	prefix string // of the keys tracked
	bound  time.Duration
	max    int
	epoch  time.Time // for monotonic nanoseconds in atomics

	mu      sync.Mutex
	entries map[string]map[string]string // Redis key -> HGETALL
	pending map[string]*fetch

	// trackers: one per master (one in all but a Cluster); the cache
	// serves only while every one of them is fresh.
	trackers atomic.Pointer[[]*tracker]

	hits, misses, invalidations, reconnects atomic.Uint64
	lastInvalidate                          atomic.Int64

	// untracked: addresses the store's own client dialed that no tracker
	// is connected to (a new master after a failover, a node found by a
	// redirect). The cache does not serve while there is any.
	untracked  map[string]bool // under mu
	nUntracked atomic.Int32
	rediscover chan struct{} // Cluster: look for masters now

	cluster bool // one tracker per master, followed by followMasters
	closed  atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newCache(client redis.UniversalClient, prefix string, o LocalCache) (*cache, error) {
	switch client.(type) {
	case *redis.Client, *redis.ClusterClient:
	default:
		return nil, fmt.Errorf("redisstore: LocalCache needs a *redis.Client (standalone, Sentinel) or *redis.ClusterClient, not %T", client)
	}
	if o.Bound < 0 || o.MaxEntries < 0 {
		return nil, errors.New("redisstore: negative LocalCache.Bound or MaxEntries")
	}
	if o.Bound != 0 && o.Bound < time.Millisecond {
		return nil, fmt.Errorf("redisstore: LocalCache.Bound %v is below 1ms (it is a time.Duration: 100*time.Millisecond, not 100)", o.Bound)
	}
	if o.Bound == 0 {
		o.Bound = 100 * time.Millisecond
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 10000
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &cache{
		prefix: prefix, bound: o.Bound, max: o.MaxEntries, epoch: time.Now(),
		entries: make(map[string]map[string]string), pending: make(map[string]*fetch),
		untracked: make(map[string]bool), rediscover: make(chan struct{}, 1),
		cancel: cancel,
	}
	switch c := client.(type) {
	case *redis.Client:
		c.AddHook(dialWatch{k})
		k.trackers.Store(&[]*tracker{k.start(ctx, c)})
		k.wg.Go(func() { k.probe(ctx, c) })
	case *redis.ClusterClient:
		k.cluster = true
		c.OnNewNode(func(n *redis.Client) { n.AddHook(dialWatch{k}) })
		k.trackers.Store(&[]*tracker{})
		k.wg.Go(func() { k.followMasters(ctx, c) })
	}
	return k, nil
}

func (k *cache) now() int64 { return int64(time.Since(k.epoch)) }

// serving reports whether the tracking connections vouch for the cache:
// every master's answered a heartbeat sent less than bound ago.
func (k *cache) serving() bool {
	ts := *k.trackers.Load()
	if len(ts) == 0 || k.nUntracked.Load() > 0 {
		return false
	}
	now := k.now()
	for _, t := range ts {
		if f := t.freshAt.Load(); f == 0 || now-f >= int64(k.bound) {
			return false
		}
	}
	return true
}

// get returns the cached hash of key.
func (k *cache) get(key string) (map[string]string, bool) {
	if !k.serving() {
		return nil, false
	}
	k.mu.Lock()
	h, ok := k.entries[key]
	k.mu.Unlock()
	if ok {
		k.hits.Add(1)
	}
	return h, ok
}

// begin registers a fetch of key from Redis; end must follow.
func (k *cache) begin(key string) {
	k.misses.Add(1)
	k.mu.Lock()
	f := k.pending[key]
	if f == nil {
		f = &fetch{}
		k.pending[key] = f
	}
	f.n++
	k.mu.Unlock()
}

// end caches what a fetch brought (h, unless nil), unless the key was
// invalidated while the fetch was in flight or the cache is not serving.
func (k *cache) end(key string, h map[string]string) {
	ok := k.serving()
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.pending[key]
	if f == nil {
		return
	}
	if h != nil && ok && !f.dirty {
		if len(k.entries) >= k.max {
			for drop := range k.entries {
				delete(k.entries, drop)
				if len(k.entries) < k.max {
					break
				}
			}
		}
		k.entries[key] = h
	}
	if f.n--; f.n == 0 {
		delete(k.pending, key)
	}
}

// invalidate drops keys, and spoils the fetches of them in flight.
func (k *cache) invalidate(keys ...string) {
	k.mu.Lock()
	for _, key := range keys {
		delete(k.entries, key)
		if f := k.pending[key]; f != nil {
			f.dirty = true
		}
	}
	k.mu.Unlock()
}

// flush drops everything.
func (k *cache) flush() {
	k.mu.Lock()
	clear(k.entries)
	for _, f := range k.pending {
		f.dirty = true
	}
	k.mu.Unlock()
}

func (k *cache) stats() CacheStats {
	k.mu.Lock()
	n := len(k.entries)
	k.mu.Unlock()
	st := CacheStats{
		Hits: k.hits.Load(), Misses: k.misses.Load(), Invalidations: k.invalidations.Load(),
		Reconnects: k.reconnects.Load(), Entries: n, Serving: k.serving(),
	}
	if t := k.lastInvalidate.Load(); t != 0 {
		st.LastInvalidate = k.epoch.Add(time.Duration(t))
	}
	return st
}

func (k *cache) close() {
	k.closed.Store(true)
	k.cancel()
	k.wg.Wait()
}
