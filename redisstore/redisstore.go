// Package redisstore keeps seshat sessions in Redis — standalone, Sentinel
// or Cluster — through go-redis's UniversalClient.
//
// Each session is one hash, "<prefix>{<bucket>}<key>", whose fields are the
// session's values plus "@" (format version, times, size) and "@u" (its
// user). The key is a keyed hash of the session ID, never the ID; the
// bucket, two hex digits derived from it, is the Cluster hash tag. A read
// is one HGETALL; every write is one Lua script on the session and its
// bucket's count hash "<prefix>{<bucket>}#" (same slot), so it is atomic
// and runs on one node. The scripts are kept lean (scripts/prelude.lua says
// why): an increment costs Redis two calls inside one script.
// The count hashes make Count exact without scanning (scripts/prelude.lua).
// Every key carries an expiry: a session's is its idle expiry or absolute
// deadline, whichever comes first.
//
// Every write is applied at most once, even when go-redis retries it after
// a connection dropped with the reply in flight: writes carry an operation
// ID that the scripts record (ops.go says how), so a replay answers what the
// first run did.
//
// Sessions bound to a user are also listed in "<prefix>u:{<hash of user>}",
// a sorted set scored by creation time. A session is added there before it is
// bound (so a bound session is never missing), and dead entries are pruned
// when the index is read.
package redisstore

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

//go:embed scripts/*.lua
var scriptFiles embed.FS

// script returns an embedded script; session scripts get the prelude's
// shared functions prepended.
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
		src = append(append(pre, '\n'), src...)
	}
	return redis.NewScript(string(src))
}

var (
	loadScript    = script("load", true)
	createScript  = script("create", true)
	commitScript  = script("commit", true)
	incrScript    = script("incr", true)
	takeScript    = script("take", true)
	destroyScript = script("destroy", true)
	countScript   = script("count", true)
	indexScript   = script("index", false)
)

// DefaultPrefix starts every key seshat writes.
const DefaultPrefix = "seshat:"

// Options configures a Store.
type Options struct {
	// Prefix starts every key. Default: DefaultPrefix. It must not contain
	// '{' or '}', which would break the keys' hash tags.
	Prefix string

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
}

// Store is a store.Store on Redis.
type Store struct {
	client redis.UniversalClient
	prefix string
	owned  bool // Close closes client

	minReplicas    int
	replicaTimeout time.Duration

	cache   *cache   // nil unless Options.LocalCache
	touches touchLog // for Load: which sessions need no touch yet
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
	if opts.MinReplicas < 0 || opts.ReplicaTimeout < 0 {
		return nil, errors.New("redisstore: negative MinReplicas or ReplicaTimeout")
	}
	if opts.ReplicaTimeout == 0 {
		opts.ReplicaTimeout = 200 * time.Millisecond
	}
	s := &Store{client: client, prefix: opts.Prefix, minReplicas: opts.MinReplicas, replicaTimeout: opts.ReplicaTimeout}
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

// buckets is the number of hash-tag buckets sessions are spread over; each
// has a count hash in the same slot (see scripts/prelude.lua). 256 spread
// evenly over the slots of a Cluster and keep Count to 256 small scripts.
const buckets = 256

// bucket returns the hash tag of a store key: two hex digits of its FNV-1a.
func bucket(key string) string {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	const hex = "0123456789abcdef"
	return string([]byte{hex[h>>4&0xf], hex[h&0xf]})
}

// errKey: a store key that cannot name a session.
var errKey = errors.New("invalid store key (empty, starting with '#', or with a brace)")

// validKey reports whether a store key can name a session: keys starting
// with "#" after the hash tag are the bucket's own (count hash, operation
// logs), and a brace would change the hash tag. A handle given to an
// administrative call comes from outside: "#" must not reach a count hash.
func validKey(key string) bool {
	return key != "" && key[0] != '#' && !strings.ContainsAny(key, "{}")
}

// SessionKey returns the Redis key of the session under a store key:
// "<prefix>{<bucket>}<key>".
func (s *Store) SessionKey(key string) string { return s.prefix + "{" + bucket(key) + "}" + key }

// keys returns the KEYS of a session script: the session and its bucket's
// count hash, which share a hash slot.
func (s *Store) keys(key string) []string {
	b := bucket(key)
	return []string{s.prefix + "{" + b + "}" + key, s.prefix + "{" + b + "}#"}
}

// keysWith returns the KEYS of a session script that also writes another
// key of the session's bucket (its operation log).
func (s *Store) keysWith(key, other string) []string {
	b := bucket(key)
	return []string{s.prefix + "{" + b + "}" + key, s.prefix + "{" + b + "}#", other}
}

// UserKey returns the Redis key of a user's index.
func (s *Store) UserKey(user string) string {
	sum := sha256.Sum256([]byte(user))
	return s.prefix + "u:{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}"
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Load implements store.Store, in one round trip (none from LocalCache).
// When the store knows the session was touched less than opts.TouchAfter
// ago (it remembers the last Touched it saw of recent sessions, which is
// never later than the stored one), it reads with a plain HGETALL, a
// native command that costs Redis a fraction of a script. Otherwise it
// runs load.lua, which reads and refreshes the idle expiry if it is due.
func (s *Store) Load(ctx context.Context, key string, opts store.LoadOptions) (*store.Record, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("redisstore: load: %w", store.ErrNotFound)
	}
	rkey := s.SessionKey(key)
	h, cached := s.cached(rkey)
	if !cached && !s.touches.fresh(key, opts) {
		return s.loadTouching(ctx, key, opts, nil)
	}
	if !cached {
		var err error
		if h, err = s.fetch(ctx, rkey); err != nil {
			return nil, s.fail("load", err)
		}
	}
	rec, err := recordOf("load", h, opts.Now)
	if err != nil {
		return nil, err
	}
	s.touches.saw(key, rec.Touched)
	if opts.Now.Sub(rec.Touched) < opts.TouchAfter {
		return rec, nil
	}
	return s.loadTouching(ctx, key, opts, rec) // a copy from the cache, with a touch due
}

// loadTouching runs load.lua. read, if not nil, is what a read found;
// it is returned untouched when Redis is full and refuses the script.
func (s *Store) loadTouching(ctx context.Context, key string, opts store.LoadOptions, read *store.Record) (*store.Record, error) {
	keys := s.keys(key)
	res, err := loadScript.Run(ctx, s.client, keys,
		opts.Now.UnixMilli(), opts.TouchAfter.Milliseconds()).Result()
	if s.cache != nil {
		s.cache.invalidate(keys[0])
	}
	if err != nil && redis.HasErrorPrefix(err, "OOM") {
		// Redis at maxmemory refuses scripts that may write (a touch):
		// read without touching, so reads keep working.
		if read != nil {
			return read, nil
		}
		h, err := s.client.HGetAll(ctx, keys[0]).Result()
		if err != nil {
			return nil, s.fail("load", err)
		}
		return recordOf("load", h, opts.Now)
	}
	if err != nil {
		return nil, s.fail("load", err)
	}
	rec, err := reply("load", res, opts.Now)
	if err == nil {
		s.touches.saw(key, rec.Touched)
	}
	return rec, err
}

// touchLog remembers the last Touched the store saw of recent sessions, so
// that Load can tell, without asking Redis, that a touch is not due. What
// it remembers is never later than what Redis holds (touches only move
// forward), so it never skips a due touch; when in doubt Load runs the
// script, still one round trip.
type touchLog struct {
	mu sync.Mutex
	m  map[string]int64 // store key -> Touched, Unix ms
}

// touchLogMax bounds the log: when full it starts again, empty.
const touchLogMax = 1 << 16

func (l *touchLog) fresh(key string, opts store.LoadOptions) bool {
	l.mu.Lock()
	t, ok := l.m[key]
	l.mu.Unlock()
	return ok && opts.Now.UnixMilli()-t < opts.TouchAfter.Milliseconds()
}

func (l *touchLog) saw(key string, touched time.Time) {
	ms := touched.UnixMilli()
	l.mu.Lock()
	if l.m == nil || len(l.m) >= touchLogMax {
		l.m = make(map[string]int64)
	}
	if ms > l.m[key] {
		l.m[key] = ms
	}
	l.mu.Unlock()
}

// cached returns a session's hash from the cache, if there is one and it
// holds the session.
func (s *Store) cached(rkey string) (map[string]string, bool) {
	if s.cache == nil {
		return nil, false
	}
	return s.cache.get(rkey)
}

// fetch reads a session's hash with HGETALL, caching what it finds when
// there is a cache.
func (s *Store) fetch(ctx context.Context, rkey string) (map[string]string, error) {
	if s.cache == nil {
		return s.client.HGetAll(ctx, rkey).Result()
	}
	s.cache.begin(rkey)
	h, err := s.client.HGetAll(ctx, rkey).Result()
	if err != nil || len(h) == 0 {
		s.cache.end(rkey, nil)
	} else {
		s.cache.end(rkey, h)
	}
	return h, err
}

// recordOf reads a session hash (as HGETALL, load.lua or take.lua returned
// it): the one parser of a stored session, with the checks the scripts
// make: a moved marker, missing metadata, expiry by the caller's clock.
func recordOf(op string, h map[string]string, now time.Time) (*store.Record, error) {
	if len(h) == 0 {
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	if until, ok := h["@m"]; ok {
		if u, err := strconv.ParseInt(until, 10, 64); err == nil && now.UnixMilli() < u {
			return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrMoved)
		}
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	raw, ok := h["@"]
	if !ok {
		return nil, fmt.Errorf("redisstore: %s: metadata missing: %w", op, store.ErrCorrupt)
	}
	rec, err := parseMeta(raw)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	n := 0
	for _, v := range h {
		n += len(v)
	}
	// One buffer for all the values (each capped, so an append to one
	// cannot run into the next): two allocations, not one per value.
	buf := make([]byte, 0, n)
	rec.Values = make(map[string][]byte, len(h))
	for name, v := range h {
		switch {
		case name == "@u":
			rec.User = v
		case name != "" && name[0] == '@':
			// Metadata, or metadata of a later version we do not know.
		default:
			start := len(buf)
			buf = append(buf, v...)
			rec.Values[name] = buf[start:len(buf):len(buf)]
		}
	}
	if !now.Before(rec.ExpiresAt()) {
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	return rec, nil
}

// Take implements store.Store. A replay of the same take (the client
// retrying after its connection dropped once Redis had run it) answers what
// the take took, not ErrMoved: the operation ID the script gets tells the two
// apart.
func (s *Store) Take(ctx context.Context, key string, now time.Time) (*store.Record, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("redisstore: take: %w", store.ErrNotFound)
	}
	res, err := s.write(ctx, takeScript, s.keys(key), now.UnixMilli(), store.MovedGrace.Milliseconds(), opID()).Result()
	if err != nil {
		return nil, s.fail("take", err)
	}
	rec, err := reply("take", res, now)
	if err == nil && rec.User != "" {
		// Best effort: a dead index entry is pruned when the index is read.
		s.client.ZRem(ctx, s.UserKey(rec.User), key)
	}
	return rec, err
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, rec *store.Record) error {
	if !validKey(key) {
		return fmt.Errorf("redisstore: create: %w", errKey)
	}
	if rec.User != "" {
		if err := s.index(ctx, rec.User, key, rec, rec.Touched); err != nil {
			return err
		}
	}
	args := make([]any, 0, 6+2*len(rec.Values))
	args = append(args, rec.Touched.UnixMilli(), formatMeta(rec, rec.Size()))
	if rec.User != "" {
		args = append(args, "@u", rec.User)
	}
	for k, v := range rec.Values {
		args = append(args, k, v)
	}
	log, ttl := s.opLog(key, rec.Touched)
	args = append(args, opID(), ttl)
	n, err := s.write(ctx, createScript, s.keysWith(key, log), args...).Int()
	if err != nil {
		return s.fail("create", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: create: %w", store.ErrExists)
	}
	s.touches.saw(key, rec.Touched)
	return nil
}

// index adds a session to its user's index. An index key that holds
// something seshat did not write (a wrong type) is left alone and the
// session goes on unindexed: a login must not fail for it. RevokeUser and
// UserSessions then fail, naming the key.
func (s *Store) index(ctx context.Context, user, key string, rec *store.Record, now time.Time) error {
	err := indexScript.Run(ctx, s.client, []string{s.UserKey(user)},
		key, rec.Created.UnixMilli(), rec.Deadline.UnixMilli(), now.UnixMilli(), user).Err()
	if err != nil && redis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil
	}
	return s.fail("index user", err)
}

// Commit implements store.Store.
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	if !validKey(key) {
		return store.Result{}, fmt.Errorf("redisstore: commit: %w", store.ErrNotFound)
	}
	if d.User != nil && *d.User != "" {
		// Index first: a bound session must never be missing from its
		// user's index, or revoking the user's sessions would miss it.
		// Binding happens at login, so the extra round trip is rare.
		raw, err := s.client.HGet(ctx, s.SessionKey(key), "@").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return store.Result{}, s.fail("commit", err)
		}
		if rec, err := parseMeta(raw); err == nil { // else the commit below reports why
			if !d.Deadline.IsZero() {
				rec.Deadline = d.Deadline
			}
			if err := s.index(ctx, *d.User, key, rec, d.Now); err != nil {
				return store.Result{}, err
			}
		}
	}
	if onlyIncr(d) {
		return s.incr(ctx, key, d)
	}
	args := make([]any, 0, 15+3*len(d.Expect)+2*len(d.Set)+len(d.Delete))
	incr, iname, iby := "0", "", int64(0)
	if d.Incr != nil {
		incr, iname, iby = "1", d.Incr.Name, d.Incr.By
	}
	bind, user := "0", ""
	if d.User != nil {
		bind, user = "1", *d.User
	}
	idle, deadline := "", ""
	if d.IdleTimeout > 0 {
		idle = strconv.FormatInt(d.IdleTimeout.Milliseconds(), 10)
	}
	if !d.Deadline.IsZero() {
		deadline = ms(d.Deadline)
	}
	log, ttl := s.opLog(key, d.Now)
	args = append(args, d.Now.UnixMilli(), d.MaxSize, len(d.Expect), len(d.Set), len(d.Delete),
		incr, iname, iby, bind, user, idle, deadline, d.TouchAfter.Milliseconds(), opID(), ttl)
	for _, e := range d.Expect {
		present := "1"
		if e.Absent {
			present = "0"
		}
		args = append(args, e.Name, present, e.Value)
	}
	for k, v := range d.Set {
		args = append(args, k, v)
	}
	for _, k := range d.Delete {
		args = append(args, k)
	}
	res, err := s.write(ctx, commitScript, s.keysWith(key, log), args...).Slice()
	if err != nil {
		return store.Result{}, s.fail("commit", err)
	}
	return s.result(ctx, key, d, res)
}

// onlyIncr reports whether a delta only increments a value.
func onlyIncr(d *store.Delta) bool {
	return d.Incr != nil && len(d.Set) == 0 && len(d.Delete) == 0 && len(d.Expect) == 0 &&
		d.User == nil && d.IdleTimeout == 0 && d.Deadline.IsZero()
}

// incr commits a delta that only increments, with the leaner incr.lua.
func (s *Store) incr(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	log, ttl := s.opLog(key, d.Now)
	res, err := s.write(ctx, incrScript, s.keysWith(key, log), d.Now.UnixMilli(), d.Incr.Name, d.Incr.By,
		d.TouchAfter.Milliseconds(), d.MaxSize, opID(), ttl).Slice()
	if err != nil {
		return store.Result{}, s.fail("commit", err)
	}
	return s.result(ctx, key, d, res)
}

// result reads the reply of commit.lua or incr.lua.
func (s *Store) result(ctx context.Context, key string, d *store.Delta, res []any) (store.Result, error) {
	var err error
	status, _ := first(res)
	switch status {
	case "OK":
		var r store.Result
		if d.Incr != nil {
			r.Value, err = strconv.ParseInt(str(res, 1), 10, 64)
			if err != nil {
				return r, fmt.Errorf("redisstore: commit: increment result %q: %w", str(res, 1), store.ErrCorrupt)
			}
		}
		if prev := str(res, 2); d.User != nil && prev != "" && prev != *d.User {
			s.client.ZRem(ctx, s.UserKey(prev), key) // best effort, see Take
		}
		return r, nil
	case "NOTFOUND":
		return store.Result{}, fmt.Errorf("redisstore: commit: %w", store.ErrNotFound)
	case "MOVED":
		return store.Result{}, fmt.Errorf("redisstore: commit: %w", store.ErrMoved)
	case "CONFLICT":
		cur := make(map[string][]byte)
		for i := 1; i+2 < len(res); i += 3 {
			if str(res, i+1) == "1" {
				cur[str(res, i)] = []byte(str(res, i+2))
			}
		}
		return store.Result{Current: cur}, fmt.Errorf("redisstore: commit: %w", store.ErrConflict)
	case "TOOLARGE":
		return store.Result{}, fmt.Errorf("redisstore: commit: %s bytes, limit %d: %w", str(res, 1), d.MaxSize, store.ErrTooLarge)
	case "NOTINT":
		return store.Result{}, fmt.Errorf("redisstore: commit: increment %q: %w", d.Incr.Name, store.ErrNotInteger)
	}
	return store.Result{}, fmt.Errorf("redisstore: commit: unexpected reply %v: %w", status, store.ErrCorrupt)
}

// Destroy implements store.Store.
func (s *Store) Destroy(ctx context.Context, key string) error {
	if !validKey(key) {
		return nil // names no session
	}
	user, err := s.write(ctx, destroyScript, s.keys(key)).Text()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return s.fail("destroy", err)
	}
	s.client.ZRem(ctx, s.UserKey(user), key) // best effort, see Take
	return nil
}

// UserSessions implements store.UserIndex. Entries of sessions that are
// gone stay for the expiry sweeper (SweepExpired), which reports them.
func (s *Store) UserSessions(ctx context.Context, user string, now time.Time) ([]store.SessionInfo, error) {
	members, err := s.client.ZRange(ctx, s.UserKey(user), 0, -1).Result()
	if err != nil {
		return nil, s.fail("user sessions "+s.UserKey(user), err)
	}
	keys := members[:0]
	for _, m := range members {
		if !strings.HasPrefix(m, "~") {
			keys = append(keys, m)
		}
	}
	all, err := s.infos(ctx, s.client, keys, now)
	if err != nil {
		return nil, s.fail("user sessions", err)
	}
	var infos []store.SessionInfo
	for _, info := range all {
		if info.User == user {
			infos = append(infos, info)
		}
	}
	return infos, nil
}

func sessionInfo(key string, v []any, err error) (store.SessionInfo, bool) {
	if err != nil || len(v) != 2 {
		return store.SessionInfo{}, false
	}
	raw, _ := v[0].(string)
	user, _ := v[1].(string)
	rec, err := parseMeta(raw)
	if err != nil {
		return store.SessionInfo{}, false
	}
	return store.SessionInfo{
		Key: key, User: user, Created: rec.Created, Touched: rec.Touched,
		Deadline: rec.Deadline, ExpiresAt: rec.ExpiresAt(),
	}, true
}

// metaLen is the length of the "@" field (see scripts/prelude.lua): the
// format version (one byte), then little-endian int64 created (Unix ms),
// touched - created, idle timeout and deadline - created (ms), and an int32
// size.
const metaLen = 37

// formatMeta encodes the "@" field of rec.
func formatMeta(rec *store.Record, size int) string {
	c := rec.Created.UnixMilli()
	b := make([]byte, 1, metaLen)
	b[0] = store.FormatVersion
	b = binary.LittleEndian.AppendUint64(b, uint64(c))
	b = binary.LittleEndian.AppendUint64(b, uint64(rec.Touched.UnixMilli()-c))
	b = binary.LittleEndian.AppendUint64(b, uint64(rec.IdleTimeout.Milliseconds()))
	b = binary.LittleEndian.AppendUint64(b, uint64(rec.Deadline.UnixMilli()-c))
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	return string(b)
}

// parseMeta reads the "@" field into the times of a Record.
func parseMeta(raw string) (*store.Record, error) {
	if len(raw) == 0 || raw[0] != store.FormatVersion {
		return nil, fmt.Errorf("metadata %q: unknown format version: %w", raw, store.ErrCorrupt)
	}
	if len(raw) != metaLen {
		return nil, fmt.Errorf("metadata %q: %w", raw, store.ErrCorrupt)
	}
	n := func(i int) int64 { return int64(binary.LittleEndian.Uint64([]byte(raw[1+8*i : 9+8*i]))) }
	c, t, idle, d := n(0), n(1), n(2), n(3)
	if c < 0 || idle < 0 || int32(binary.LittleEndian.Uint32([]byte(raw[33:]))) < 0 {
		return nil, fmt.Errorf("metadata %q: %w", raw, store.ErrCorrupt)
	}
	return &store.Record{
		Created:     time.UnixMilli(c),
		Touched:     time.UnixMilli(c + t),
		IdleTimeout: time.Duration(idle) * time.Millisecond,
		Deadline:    time.UnixMilli(c + d),
	}, nil
}

// reply reads the answer of a script that returns a session (load.lua,
// take.lua): a status first, {'OK', name, value, ...}, {'NOTFOUND'} or
// {'MOVED'}, as every script answers.
func reply(op string, res any, now time.Time) (*store.Record, error) {
	arr, ok := res.([]any)
	status, _ := first(arr)
	switch {
	case !ok:
		return nil, fmt.Errorf("redisstore: %s: reply of type %T: %w", op, res, store.ErrCorrupt)
	case status == "NOTFOUND":
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	case status == "MOVED":
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrMoved)
	case status != "OK" || len(arr)%2 != 1:
		return nil, fmt.Errorf("redisstore: %s: unexpected reply %.40q: %w", op, status, store.ErrCorrupt)
	}
	h := make(map[string]string, len(arr)/2)
	for i := 1; i < len(arr); i += 2 {
		name, ok1 := arr[i].(string)
		val, ok2 := arr[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("redisstore: %s: field of type %T: %w", op, arr[i+1], store.ErrCorrupt)
		}
		h[name] = val
	}
	return recordOf(op, h, now)
}

func first(res []any) (string, bool) {
	if len(res) == 0 {
		return "", false
	}
	s, ok := res[0].(string)
	return s, ok
}

func str(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	switch v := res[i].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// replyErrors maps the prefixes of Redis error replies to the store's
// errors: data the store cannot read, a full Redis, and the replies that
// mean "not now" (loading, a failover, a slot moving, a busy script).
var replyErrors = []struct {
	prefix string
	err    error
}{
	{"CORRUPT", store.ErrCorrupt}, // the scripts' own reply for unreadable metadata
	{"WRONGTYPE", store.ErrCorrupt},
	{"OOM", store.ErrFull},
	{"LOADING", store.ErrUnavailable},
	{"CLUSTERDOWN", store.ErrUnavailable},
	{"MASTERDOWN", store.ErrUnavailable},
	{"READONLY", store.ErrUnavailable},
	{"TRYAGAIN", store.ErrUnavailable},
	{"BUSY", store.ErrUnavailable},
	{"NOREPLICAS", store.ErrUnavailable},
}

// fail maps a go-redis error to the store's errors.
func (s *Store) fail(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	case errors.Is(err, store.ErrUnavailable): // a WAIT that fell short, say
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err) // the network, a timeout
	}
	for _, e := range replyErrors {
		if redis.HasErrorPrefix(err, e.prefix) {
			return fmt.Errorf("redisstore: %s: %w: %w", op, e.err, err)
		}
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

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
// XREVRANGE and SET (the sweeper's lock); for the client-side cache
// (Options.LocalCache) CLIENT TRACKING and ROLE on its own connection.
// Cluster clients also need CLUSTER SLOTS and CLUSTER SHARDS for routing.
// Nothing else: no KEYS, no FLUSH*, no CONFIG, no SCRIPT, no pub/sub. (On
// Redis 7.2 and later, add +client|setinfo to spare go-redis a refused
// handshake command.)
const ACL = "~seshat:* -@all +hello +ping +evalsha +eval " +
	"+hgetall +hget +hmget +hset +hdel +hincrby +hlen " +
	"+exists +del +pexpireat +pexpire +pttl +type +zadd +zrem +zrange +zcard +scan +cluster|slots +cluster|shards " +
	"+xadd +xread +xrevrange +set +client|tracking +role +wait"

var globEscape = strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`)

// Scan implements store.Iterator with SCAN (MATCH on the prefix, TYPE
// hash), on every master of a Cluster one after the other, reading each
// batch's metadata in one pipeline.
func (s *Store) Scan(ctx context.Context, now time.Time, batch int, fn func([]store.SessionInfo) error) error {
	if batch <= 0 {
		batch = 100
	}
	var fnErr error
	err := s.scanKeys(ctx, globEscape.Replace(s.prefix)+"{??}?*", "hash", batch, func(keys []string) error {
		var out []string
		for _, k := range keys {
			// "<prefix>{bb}<key>"; the bucket's own keys (count hash,
			// operation logs) start with "#" after the tag.
			rest, ok := strings.CutPrefix(k, s.prefix+"{")
			if ok && len(rest) > 3 && rest[2] == '}' && rest[3] != '#' && bucket(rest[3:]) == rest[:2] {
				out = append(out, rest[3:])
			}
		}
		if len(out) == 0 {
			return nil
		}
		infos, err := s.infos(ctx, s.client, out, now)
		if err != nil || len(infos) == 0 {
			return err
		}
		fnErr = fn(infos)
		return fnErr
	})
	if err != nil && err != fnErr {
		return s.fail("scan", err)
	}
	return err
}

// infos reads the metadata of sessions in one pipeline and keeps the live
// ones.
func (s *Store) infos(ctx context.Context, c redis.Cmdable, keys []string, now time.Time) ([]store.SessionInfo, error) {
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, s.SessionKey(k), "@", "@u")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	infos := make([]store.SessionInfo, 0, len(keys))
	for i, k := range keys {
		v, err := cmds[i].Result()
		if info, ok := sessionInfo(k, v, err); ok && now.Before(info.ExpiresAt) {
			infos = append(infos, info)
		}
	}
	return infos, nil
}

// Count implements store.Counter: one small script per bucket, pipelined
// (per node on a Cluster), each subtracting the sessions whose expiry has
// passed since the last count. Its cost does not grow with the number of
// sessions. A bucket whose count hash holds something seshat did not
// write is left out (Stats names it).
func (s *Store) Count(ctx context.Context, now time.Time) (int64, error) {
	n, _, err := s.count(ctx, now)
	return n, err
}

// count is Count, also naming the count hashes it could not read.
func (s *Store) count(ctx context.Context, now time.Time) (int64, []string, error) {
	key := func(b int) string { return fmt.Sprintf("%s{%02x}#", s.prefix, b) }
	run := func(eval func(p redis.Pipeliner, keys []string) *redis.Cmd) ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, buckets)
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for b := range buckets {
				cmds[b] = eval(p, []string{key(b)})
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run(func(p redis.Pipeliner, keys []string) *redis.Cmd {
		return countScript.EvalSha(ctx, p, keys, now.UnixMilli())
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// First count on some node: send the source once.
		cmds, err = run(func(p redis.Pipeliner, keys []string) *redis.Cmd {
			return countScript.Eval(ctx, p, keys, now.UnixMilli())
		})
	}
	if err != nil {
		return 0, nil, s.fail("count", err)
	}
	var n int64
	var foreign []string
	for b, c := range cmds {
		v, err := c.Int64()
		if err != nil {
			return 0, nil, s.fail("count", err)
		}
		if v < 0 {
			foreign = append(foreign, key(b))
			continue
		}
		n += v
	}
	return n, foreign, nil
}

// write runs a script that changes a session, waiting for MinReplicas
// replicas when configured: the script and WAIT go in one pipeline on the
// connection to the key's master, so WAIT covers exactly that write.
func (s *Store) write(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.cache != nil {
		// Whatever the outcome (a timeout does not mean nothing was
		// written), the cached copy and fetches in flight are stale now.
		defer s.cache.invalidate(keys[0])
	}
	if s.minReplicas == 0 {
		return sc.Run(ctx, s.client, keys, args...)
	}
	var node redis.Cmdable = s.client
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(err)
			return cmd
		}
		node = m
	}
	var res *redis.Cmd
	var wait *redis.IntCmd
	send := func(eval func(p redis.Pipeliner) *redis.Cmd) error {
		_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			res = eval(p)
			wait = redis.NewIntCmd(ctx, "wait", s.minReplicas, s.replicaTimeout.Milliseconds())
			_ = p.Process(ctx, wait)
			return nil
		})
		return err
	}
	err := send(func(p redis.Pipeliner) *redis.Cmd { return sc.EvalSha(ctx, p, keys, args...) })
	if err != nil && redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
		err = send(func(p redis.Pipeliner) *redis.Cmd { return sc.Eval(ctx, p, keys, args...) })
	}
	if res.Err() != nil {
		return res
	}
	// The script ran; a WAIT that failed (refused by an ACL, say) leaves
	// the replicas unknown: that is a failed wait too, never a success.
	if n, err := wait.Result(); err != nil || n < int64(s.minReplicas) {
		cmd := redis.NewCmd(ctx)
		if err == nil {
			err = fmt.Errorf("the write reached %d of %d replicas within %v: %w", n, s.minReplicas, s.replicaTimeout, store.ErrUnavailable)
		} else {
			err = fmt.Errorf("WAIT for %d replicas: %w: %w", s.minReplicas, store.ErrUnavailable, err)
		}
		cmd.SetErr(err)
		return cmd
	}
	return res
}
