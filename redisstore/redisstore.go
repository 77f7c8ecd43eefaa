// Package redisstore keeps seshat sessions in Redis — standalone, Sentinel
// or Cluster — through go-redis's UniversalClient.
//
// Each session is one hash, "<prefix>{<bucket>}<key>", whose fields are the
// session's values plus "@" (format version, times, size) and "@u" (its
// user). The key is a keyed hash of the session ID, never the ID; the
// bucket, derived from it, is the Cluster hash tag: one of 256 (two hex
// digits, LayoutBuckets) or one per Cluster slot (three characters that
// land on the key's own slot, LayoutSlots, the default on a Cluster, so
// that sessions spread evenly over any number of masters). A store reads
// both layouts and writes one (Options.Layout). A read is one HGETALL;
// every write is one Lua script on the session and its bucket's count hash
// "<prefix>{<bucket>}#" (same slot), so it is atomic and runs on one node. The scripts are kept lean (scripts/prelude.lua says
// why): an increment costs Redis two calls inside one script.
// The count hashes make Count exact without scanning (scripts/prelude.lua).
// Every key carries an expiry: a session's is its idle expiry or absolute
// deadline, whichever comes first.
//
// Every write is applied at most once, even when go-redis retries it after
// a connection dropped with the reply in flight: commits carry an operation
// ID that the scripts record, and a creation knows its own fields (ops.go
// says how), so a replay answers what the first run did.
//
// Sessions bound to a user are also listed in "<prefix>u:{<hash of user>}",
// a sorted set scored by creation time. A session is added there before it is
// bound (so a bound session is never missing), and dead entries are pruned
// when the index is read.
package redisstore

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

//go:embed scripts/*.lua
var scriptFiles embed.FS

// script returns an embedded script; session scripts get the prelude's
// shared functions prepended (after the script's shebang line, if it has
// one: Redis reads flags only from the first line).
func script(name string, prelude bool) *redis.Script {
	src, err := scriptFiles.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("redisstore: missing embedded script " + name) // a build defect, caught by every test
	}
	if prelude {
		pre, err := scriptFiles.ReadFile("scripts/prelude.lua")
		if err != nil {
			panic("redisstore: missing embedded prelude")
		}
		var shebang []byte
		if bytes.HasPrefix(src, []byte("#!")) {
			i := bytes.IndexByte(src, '\n') + 1
			shebang, src = src[:i], src[i:]
		}
		src = slices.Concat(shebang, pre, []byte{'\n'}, src)
	}
	return redis.NewScript(string(src))
}

var (
	loadScript        = script("load", true)
	createScript      = script("create", true)
	commitScript      = script("commit", true)
	incrScript        = script("incr", true)
	takeScript        = script("take", true)
	destroyScript     = script("destroy", true)
	countScript       = script("count", true)
	countManyScript   = script("countmany", true)
	indexScript       = script("index", false)
	eraseIndexScript  = script("eraseindex", false)
	eraseStreamScript = script("erasestream", false)
)

// DefaultPrefix starts every key seshat writes.
const DefaultPrefix = "seshat:"

// Options configures a Store.
type Options struct {
	// Prefix starts every key. Default: DefaultPrefix. It must not contain
	// '{' or '}', which would break the keys' hash tags.
	Prefix string

	// Layout is where new sessions go (see Layout); sessions in the other
	// layout are still read, written, counted, listed and destroyed, so
	// changing it loses nothing. Default: LayoutAuto, one bucket per slot
	// on a Cluster client and 256 buckets otherwise (where slots do not
	// matter and Count is cheaper with fewer buckets). A store that moves
	// from one Redis to a Cluster keeps its sessions: those created before
	// stay in their 256 buckets until they end. Releases before this
	// option read only LayoutBuckets: during a rolling upgrade of a
	// Cluster's applications from one, set LayoutBuckets until every
	// instance runs this one.
	Layout Layout

	// MinReplicas, when positive, makes every write (create, commit, take,
	// destroy) wait, with Redis WAIT on the same connection, until at
	// least this many replicas have it, and fail with ErrUnavailable when
	// they do not within ReplicaTimeout. An acknowledged write then
	// survives the failover of its master. (A failed wait does not mean
	// the write was not applied.) Default: 0, acknowledge as soon as the
	// master has it; a failover can then lose the writes of the last
	// moments before it (Redis replication is asynchronous).
	MinReplicas int
	// ReplicaTimeout bounds that wait. Default: 200 ms.
	ReplicaTimeout time.Duration

	// LocalCache, when set, serves reads from a client-side cache that
	// Redis invalidates (see LocalCache for what it guarantees). Default:
	// off, every read asks Redis.
	LocalCache *LocalCache

	// NoAutoPipeline sends every command on a connection of its own from
	// the client's pool. By default, once more than AutoPipelineAbove of
	// the store's loads and writes are in flight, the next ones go through
	// the client's autopipeliner (go-redis's AutoPipeline, per node on a
	// Cluster) and share round trips with each other: under load that
	// serves more requests with fewer connections at a lower latency,
	// and below the threshold nothing changes. Writes stay exactly-once
	// (an autopipeliner may replay a command after a broken connection;
	// the operation IDs make a replay a no-op). Writes with MinReplicas
	// never share a connection (WAIT must follow its own write), nor do
	// clients without AutoPipeline (a Ring).
	NoAutoPipeline bool
	// AutoPipelineAbove is how many loads and writes may be in flight
	// before the next ones are batched. Default: DefaultAutoPipelineAbove.
	AutoPipelineAbove int
}

// DefaultAutoPipelineAbove is Options.AutoPipelineAbove's default.
const DefaultAutoPipelineAbove = 8

// Store is a store.Store on Redis.
type Store struct {
	client redis.UniversalClient
	ap     *redis.AutoPipeliner // nil: Options.NoAutoPipeline
	above  int32                // Options.AutoPipelineAbove
	busy   atomic.Int32         // loads and writes in flight (with ap)
	prefix string
	layout Layout // where new sessions go
	owned  bool   // Close closes client

	minReplicas    int
	replicaTimeout time.Duration

	cache   *cache   // nil unless Options.LocalCache
	touches touchLog // for Load: which sessions need no touch yet

	countOnce   sync.Once
	counts      []string     // countHashes
	countArgs   []any        // the same, boxed
	localGroups []countGroup // of counts, for a server that is not a Cluster
	noCountMany atomic.Bool  // the server refused countmany.lua: count bucket by bucket
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.UserIndex = (*Store)(nil)
	_ store.Iterator  = (*Store)(nil)
	_ store.Counter   = (*Store)(nil)
)

// New returns a Store that uses client. The caller keeps ownership of the
// client (and closes it). With Options.LocalCache, the store also runs
// connections and goroutines of its own: call Close before closing the
// client.
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q contains a brace", opts.Prefix)
	}
	if opts.Layout > LayoutSlots {
		return nil, fmt.Errorf("redisstore: unknown layout %d", opts.Layout)
	}
	if opts.Layout == LayoutAuto {
		opts.Layout = LayoutBuckets
		if _, ok := client.(*redis.ClusterClient); ok {
			opts.Layout = LayoutSlots
		}
	}
	if opts.MinReplicas < 0 || opts.ReplicaTimeout < 0 || opts.AutoPipelineAbove < 0 {
		return nil, errors.New("redisstore: negative MinReplicas, ReplicaTimeout or AutoPipelineAbove")
	}
	if opts.AutoPipelineAbove == 0 {
		opts.AutoPipelineAbove = DefaultAutoPipelineAbove
	}
	if opts.ReplicaTimeout == 0 {
		opts.ReplicaTimeout = 200 * time.Millisecond
	}
	s := &Store{client: client, prefix: opts.Prefix, layout: opts.Layout, minReplicas: opts.MinReplicas, replicaTimeout: opts.ReplicaTimeout}
	if !opts.NoAutoPipeline {
		type autoPipeliner interface {
			AutoPipeline() (*redis.AutoPipeliner, error)
		}
		if c, ok := client.(autoPipeliner); ok {
			ap, err := c.AutoPipeline()
			if err != nil {
				return nil, fmt.Errorf("redisstore: autopipeline: %w", err)
			}
			s.ap = ap
			s.above = int32(min(opts.AutoPipelineAbove, math.MaxInt32))
		}
	}
	if opts.LocalCache != nil {
		c, err := newCache(client, opts.Prefix+"{", *opts.LocalCache)
		if err != nil {
			return nil, err
		}
		s.cache = c
	}
	return s, nil
}

// CacheStats reports the work of the client-side cache (Options.LocalCache);
// ok is false when there is none.
func (s *Store) CacheStats() (st CacheStats, ok bool) {
	if s.cache == nil {
		return CacheStats{}, false
	}
	return s.cache.stats(), true
}

// Client returns the client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// ACL is the least privilege seshat needs, as the rules of a Redis ACL
// user for the default prefix:
//
//	ACL SETUSER seshat on >password resetkeys resetchannels <ACL>
//
// Keys: only those under "seshat:". Commands: connecting (HELLO, PING),
// the store's scripts (EVALSHA, EVAL) and the hash, sorted-set, expiry and
// TYPE commands they call, reading user indexes (ZCARD for Usage), WAIT
// for Options.MinReplicas, and SCAN for iterating
// sessions (rekey, listing), and for lifecycle events XADD, XREAD,
// XREVRANGE and SET (the sweeper's lock), and for erasing a user's
// (EraseUser) XRANGE, XINFO STREAM, XSETID, XTRIM, RENAME and TIME; for
// the client-side cache
// (Options.LocalCache) CLIENT TRACKING and ROLE on its own connection.
// Cluster clients also need CLUSTER SLOTS and CLUSTER SHARDS for routing.
// Nothing else: no KEYS, no FLUSH*, no CONFIG, no SCRIPT, no pub/sub. (On
// Redis 7.2 and later, add +client|setinfo to spare go-redis a refused
// handshake command.)
const ACL = "~seshat:* -@all +hello +ping +evalsha +eval " +
	"+hgetall +hget +hmget +hset +hdel +hincrby +hlen " +
	"+exists +del +pexpireat +pexpire +pttl +type +zadd +zrem +zrange +zcard +scan +cluster|slots +cluster|shards " +
	"+xadd +xread +xrevrange +xrange +xinfo|stream +xsetid +xtrim +rename +time +set +client|tracking +role +wait"

// fastClient is what the request path needs of a client: scripts and
// HGETALL.
type fastClient interface {
	redis.Scripter
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
}

// via returns the client for one load or write: the autopipeliner when
// more than Options.AutoPipelineAbove are in flight, else the client.
// Call done when the command has its reply.
func (s *Store) via() fastClient {
	if s.ap == nil {
		return s.client
	}
	if s.busy.Add(1) > s.above {
		return s.ap
	}
	return s.client
}

// done ends what via began.
func (s *Store) done() {
	if s.ap != nil {
		s.busy.Add(-1)
	}
}

// run runs a script through via, and again on a connection of its own
// when the autopipeliner failed it without an answer from Redis.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := s.via()
	cmd := sc.Run(ctx, c, keys, args...)
	s.done()
	if s.again(ctx, c, cmd.Err()) {
		cmd = sc.Run(ctx, s.client, keys, args...)
	}
	return cmd
}

// again reports whether a call that went through client c and failed
// with err is to be sent again on the client's own pool. When its
// connection breaks, the autopipeliner fails every command of the batch
// (hundreds of requests), where the client would have retried each
// (Options.MaxRetries); sending again does what the client would have
// done, and is as safe: a write carries its operation ID, a load only
// reads and touches.
func (s *Store) again(ctx context.Context, c fastClient, err error) bool {
	if err == nil || c == fastClient(s.client) || ctx.Err() != nil {
		return false
	}
	var answer redis.Error // Redis answered: an error reply, or nil
	return !errors.As(err, &answer)
}
