package redisstore

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

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
