package redisstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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

// tracker keeps one tracking connection to one master.
type tracker struct {
	node *redis.Client
	// freshAt: the send time (ns since the cache's epoch) of a heartbeat
	// whose answer came in behind every invalidation of a write Redis
	// applied before it was sent; 0 while the connection is not set up.
	freshAt atomic.Int64
	cancel  context.CancelFunc

	mu   sync.Mutex
	addr string // the remote address of its connection, once set up
	kick func() // closes that connection
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

// probe pings through the store's own client every bound/4 while the
// cache serves, so that a client that moved to another server (go-redis's
// Sentinel client drops its connections to a master it no longer trusts)
// dials it, which dialWatch reports, even while every read is served from
// the cache. (While the cache does not serve, reads go through the client
// anyway; pinging a Redis that is down would only slow the pool's
// recovery.)
func (k *cache) probe(ctx context.Context, c *redis.Client) {
	tick := time.NewTicker(k.bound / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !k.serving() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, k.bound)
		c.Ping(pctx)
		cancel()
	}
}

// clientClosed reports whether c was closed, without any I/O: a command
// on a cancelled context fails with ErrClosed before anything else.
func clientClosed(c *redis.Client) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return errors.Is(c.Ping(ctx).Err(), redis.ErrClosed)
}

// dialWatch tells the cache about every connection the store's client
// opens, so that one to a node no tracker covers stops the cache at once.
type dialWatch struct{ k *cache }

func (d dialWatch) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err == nil && !d.k.closed.Load() {
			d.k.dialed(conn.RemoteAddr().String())
		}
		return conn, err
	}
}

func (dialWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (dialWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// dialed handles a new data connection to addr: unless a tracker is
// connected there, the cache stops serving, and the trackers move (a
// single master's reconnects through the client's dialer, which follows a
// Sentinel failover; a Cluster's masters are looked up again).
func (k *cache) dialed(addr string) {
	for _, t := range *k.trackers.Load() {
		t.mu.Lock()
		a := t.addr
		t.mu.Unlock()
		if a == addr {
			return
		}
	}
	k.mu.Lock()
	if !k.untracked[addr] {
		k.untracked[addr] = true
		k.nUntracked.Add(1)
	}
	k.mu.Unlock()
	select {
	case k.rediscover <- struct{}{}:
	default:
	}
	if ts := *k.trackers.Load(); len(ts) == 1 && !k.cluster {
		ts[0].mu.Lock()
		if ts[0].kick != nil {
			ts[0].kick()
		}
		ts[0].mu.Unlock()
	}
}

// tracked records that a tracker is connected to addr.
func (k *cache) tracked(addr string) {
	k.mu.Lock()
	if k.untracked[addr] {
		delete(k.untracked, addr)
		k.nUntracked.Add(-1)
	}
	k.mu.Unlock()
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

// start runs a tracker on node until ctx ends or it is stopped.
func (k *cache) start(ctx context.Context, node *redis.Client) *tracker {
	ctx, cancel := context.WithCancel(ctx)
	t := &tracker{node: node, cancel: cancel}
	k.wg.Go(func() { k.track(ctx, t) })
	return t
}

// followMasters keeps one tracker per master of a Cluster, looking the
// masters up (CLUSTER SLOTS, through go-redis) every second, and at once
// when a tracker fails or the client dials a node no tracker covers. A
// tracker joins unfresh (so the cache stops serving until it is up, and
// flushes when it is), and one of a master that is gone leaves.
func (k *cache) followMasters(ctx context.Context, cc *redis.ClusterClient) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var mu sync.Mutex
		masters := map[string]*redis.Client{}
		err := cc.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			masters[n.Options().Addr] = n
			mu.Unlock()
			return nil
		})
		if err == nil {
			old := *k.trackers.Load()
			next := make([]*tracker, 0, len(masters))
			changed := len(old) != len(masters)
			for _, t := range old {
				if masters[t.node.Options().Addr] == t.node {
					next = append(next, t)
					delete(masters, t.node.Options().Addr)
				} else {
					t.cancel()
					changed = true
				}
			}
			for _, n := range masters {
				next = append(next, k.start(ctx, n))
				changed = true
			}
			if changed {
				k.trackers.Store(&next)
			}
			// A node dialed that is not a master (a replica asked for
			// the slot map) does not stop the cache.
			k.mu.Lock()
			for addr := range k.untracked {
				if !k.isMasterAddr(next, addr) {
					delete(k.untracked, addr)
					k.nUntracked.Add(-1)
				}
			}
			k.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-k.rediscover:
			// At most ten lookups a second, however often trackers fail.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
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

// isMasterAddr reports whether addr is where one of the trackers' masters
// is (as configured, or as connected).
func (k *cache) isMasterAddr(ts []*tracker, addr string) bool {
	for _, t := range ts {
		t.mu.Lock()
		a := t.addr
		t.mu.Unlock()
		if a == addr || t.node.Options().Addr == addr {
			return true
		}
	}
	return false
}

func (k *cache) close() {
	k.closed.Store(true)
	k.cancel()
	k.wg.Wait()
}

// track keeps a tracking connection to t's node up until ctx ends.
func (k *cache) track(ctx context.Context, t *tracker) {
	const firstBackoff = 10 * time.Millisecond
	backoff := firstBackoff
	for first := true; ; first = false {
		if !first {
			k.reconnects.Add(1)
		}
		wasFresh := k.session(ctx, t)
		t.freshAt.Store(0)
		k.flush()
		select {
		case k.rediscover <- struct{}{}:
		default:
		}
		if ctx.Err() != nil {
			return
		}
		// The cache is off until the next connection is set up; reads go
		// to Redis. A client closed without closing the store ends this.
		if clientClosed(t.node) {
			return
		}
		if wasFresh {
			backoff = firstBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// session runs one tracking connection until it fails or ctx ends, and
// reports whether it ever vouched for the cache.
func (k *cache) session(ctx context.Context, t *tracker) (wasFresh bool) {
	opt := t.node.Options()
	dctx, cancel := context.WithTimeout(ctx, max(opt.DialTimeout, time.Second))
	conn, err := opt.Dialer(dctx, opt.Network, opt.Addr)
	cancel()
	if err != nil {
		return false
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	t.mu.Lock()
	t.addr, t.kick = conn.RemoteAddr().String(), func() { conn.Close() }
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.addr, t.kick = "", nil
		t.mu.Unlock()
	}()

	r := bufio.NewReader(conn)
	hello := []string{"HELLO", "3", "SETNAME", "seshat-cache"}
	if opt.Password != "" {
		user := opt.Username
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, opt.Password)
	}
	deadline := func() { conn.SetDeadline(time.Now().Add(max(k.bound, time.Second))) }
	deadline()
	for _, cmd := range [][]string{hello, {"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", k.prefix}} {
		if _, err := conn.Write(respCommand(cmd...)); err != nil {
			return false
		}
		v, err := readRESP(r)
		if err != nil {
			return false
		}
		if _, ok := v.(respError); ok {
			return false // refused (ACL, an old Redis): the cache stays off
		}
	}
	// The cache starts empty for this connection: whatever was cached
	// before it was not vouched for by it.
	k.flush()
	k.tracked(conn.RemoteAddr().String())

	// Heartbeats (ROLE, which also tells when a Sentinel failover made
	// this node a replica) go out every bound/4, one at a time. Redis
	// sends broadcast invalidations at the end of an event-loop round,
	// after the replies of that round, so the answer to heartbeat i vouches
	// only for what Redis applied before heartbeat i-1 was sent: i-1 was
	// answered before i went out, so i was read in a later round than any
	// write applied before i-1 was sent.
	var pinger sync.WaitGroup
	defer pinger.Wait()
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	sent := make(chan int64, 1) // the send time of the heartbeat in flight
	pinger.Go(func() {
		tick := time.NewTicker(k.bound / 4)
		defer tick.Stop()
		role := respCommand("ROLE")
		for {
			select {
			case sent <- k.now():
				conn.SetWriteDeadline(time.Now().Add(k.bound))
				if _, err := conn.Write(role); err != nil {
					conn.Close() // the reader returns
					return
				}
			default: // the last one is not answered yet
			}
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	var prev int64 // send time of the last heartbeat answered
	for {
		conn.SetReadDeadline(time.Now().Add(max(2*k.bound, 200*time.Millisecond)))
		v, err := readRESP(r)
		if err != nil {
			return wasFresh
		}
		switch v := v.(type) {
		case respPush:
			k.onPush(v)
		case []any: // ROLE
			if len(v) == 0 || v[0] != "master" {
				return wasFresh // a replica now: reconnect, through the dialer, to the master
			}
			select {
			case at := <-sent:
				if prev != 0 {
					t.freshAt.Store(prev)
					wasFresh = true
				}
				prev = at
			default:
			}
		case respError:
			return wasFresh
		}
	}
}

// onPush applies an invalidation message: ["invalidate", [keys] or nil].
func (k *cache) onPush(p respPush) {
	if len(p) < 2 {
		return
	}
	if kind, _ := p[0].(string); kind != "invalidate" {
		return
	}
	keys, ok := p[1].([]any)
	if !ok { // nil: Redis flushed, or tracking was reset
		k.flush()
		return
	}
	names := make([]string, 0, len(keys))
	for _, x := range keys {
		if s, ok := x.(string); ok {
			names = append(names, s)
		}
	}
	k.invalidate(names...)
	k.invalidations.Add(uint64(len(names)))
	k.lastInvalidate.Store(k.now())
}

// A minimal RESP3 client for the tracking connection: go-redis reads push
// messages only when a command is sent on their connection, and the cache
// must apply an invalidation the moment it arrives.

type (
	respPush  []any
	respError string
)

func respCommand(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// readRESP reads one RESP3 value: strings (simple, bulk, verbatim),
// integers, doubles and booleans as strings, errors as respError,
// arrays, sets and maps as []any, pushes as respPush, nulls as nil.
func readRESP(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("redisstore: cache: malformed reply %q", line)
	}
	kind, rest := line[0], line[1:len(line)-2]
	switch kind {
	case '+', ':', ',', '#', '(':
		return rest, nil
	case '-':
		return respError(rest), nil
	case '_':
		return nil, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 || n > 512<<20 {
			return nil, fmt.Errorf("redisstore: cache: malformed length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if kind == '!' {
			return respError(b[:n]), nil
		}
		return string(b[:n]), nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 || n > 1<<24 {
			return nil, fmt.Errorf("redisstore: cache: malformed length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = readRESP(r); err != nil {
				return nil, err
			}
		}
		switch kind {
		case '>':
			return respPush(a), nil
		case '|': // attributes precede the value they describe
			return readRESP(r)
		}
		return a, nil
	}
	return nil, fmt.Errorf("redisstore: cache: unknown reply type %q", kind)
}
