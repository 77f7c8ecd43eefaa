// Package redisstore keeps seshat sessions in Redis — standalone, Sentinel
// or Cluster — through go-redis's UniversalClient.
//
// Each session is one hash, "<prefix>{<key>}", whose fields are the
// session's values plus a few metadata fields that start with '@' (format
// version, times, size, user). Every operation is one Lua script on that one
// key, so it is atomic and, with the key's hash tag, runs on one Cluster
// node. The key is a keyed hash of the session ID, never the ID. Every key
// carries an expiry: the session's idle expiry or absolute deadline,
// whichever comes first.
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

func script(name string) *redis.Script {
	src, err := scriptFiles.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("redisstore: missing embedded script " + name) // a build defect, caught by every test
	}
	return redis.NewScript(string(src))
}

var (
	loadScript    = script("load")
	createScript  = script("create")
	commitScript  = script("commit")
	takeScript    = script("take")
	destroyScript = script("destroy")
	indexScript   = script("index")
)

// DefaultPrefix starts every key seshat writes.
const DefaultPrefix = "seshat:"

// Options configures a Store.
type Options struct {
	// Prefix starts every key. Default: DefaultPrefix. It must not contain
	// '{' or '}', which would break the keys' hash tags.
	Prefix string
}

// Store is a store.Store on Redis.
type Store struct {
	client redis.UniversalClient
	prefix string
	owned  bool // Close closes client
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.UserIndex = (*Store)(nil)
	_ store.Iterator  = (*Store)(nil)
)

// New returns a Store that uses client. The caller keeps ownership of the
// client (and closes it).
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
	return &Store{client: client, prefix: opts.Prefix}, nil
}

// Client returns the client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// SessionKey returns the Redis key of the session under a store key.
func (s *Store) SessionKey(key string) string { return s.prefix + "{" + key + "}" }

// UserKey returns the Redis key of a user's index.
func (s *Store) UserKey(user string) string {
	sum := sha256.Sum256([]byte(user))
	return s.prefix + "u:{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}"
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, key string, opts store.LoadOptions) (*store.Record, error) {
	res, err := loadScript.Run(ctx, s.client, []string{s.SessionKey(key)},
		opts.Now.UnixMilli(), opts.TouchAfter.Milliseconds()).Result()
	if err != nil {
		return nil, s.fail("load", err)
	}
	return parseRecord("load", res)
}

// Take implements store.Store.
func (s *Store) Take(ctx context.Context, key string, now time.Time) (*store.Record, error) {
	res, err := takeScript.Run(ctx, s.client, []string{s.SessionKey(key)}, now.UnixMilli()).Result()
	if err != nil {
		return nil, s.fail("take", err)
	}
	rec, err := parseRecord("take", res)
	if err == nil && rec.User != "" {
		// Best effort: a dead index entry is pruned when the index is read.
		s.client.ZRem(ctx, s.UserKey(rec.User), key)
	}
	return rec, err
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, rec *store.Record) error {
	if rec.User != "" {
		if err := s.index(ctx, rec.User, key, rec, rec.Touched); err != nil {
			return err
		}
	}
	args := make([]any, 0, 16+2*len(rec.Values))
	args = append(args, rec.Touched.UnixMilli(), rec.ExpiresAt().UnixMilli(),
		"@v", store.FormatVersion,
		"@c", rec.Created.UnixMilli(),
		"@t", rec.Touched.UnixMilli(),
		"@i", rec.IdleTimeout.Milliseconds(),
		"@d", rec.Deadline.UnixMilli(),
		"@s", rec.Size())
	if rec.User != "" {
		args = append(args, "@u", rec.User)
	}
	for k, v := range rec.Values {
		args = append(args, k, v)
	}
	n, err := createScript.Run(ctx, s.client, []string{s.SessionKey(key)}, args...).Int()
	if err != nil {
		return s.fail("create", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: create: %w", store.ErrExists)
	}
	return nil
}

func (s *Store) index(ctx context.Context, user, key string, rec *store.Record, now time.Time) error {
	err := indexScript.Run(ctx, s.client, []string{s.UserKey(user)},
		key, rec.Created.UnixMilli(), rec.Deadline.UnixMilli(), now.UnixMilli()).Err()
	return s.fail("index user", err)
}

// Commit implements store.Store.
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	if d.User != nil && *d.User != "" {
		// Index first: a bound session must never be missing from its
		// user's index, or revoking the user's sessions would miss it.
		// Binding happens at login, so the extra round trip is rare.
		meta, err := s.client.HMGet(ctx, s.SessionKey(key), "@c", "@d").Result()
		if err != nil {
			return store.Result{}, s.fail("commit", err)
		}
		cs, _ := meta[0].(string)
		ds, _ := meta[1].(string)
		c, err1 := strconv.ParseInt(cs, 10, 64)
		dl, err2 := strconv.ParseInt(ds, 10, 64)
		if err1 == nil && err2 == nil { // else the commit below reports why
			if !d.Deadline.IsZero() {
				dl = d.Deadline.UnixMilli()
			}
			rec := &store.Record{Created: time.UnixMilli(c), Deadline: time.UnixMilli(dl)}
			if err := s.index(ctx, *d.User, key, rec, d.Now); err != nil {
				return store.Result{}, err
			}
		}
	}
	args := make([]any, 0, 12+3*len(d.Expect)+2*len(d.Set)+len(d.Delete))
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
	args = append(args, d.Now.UnixMilli(), d.MaxSize, len(d.Expect), len(d.Set), len(d.Delete),
		incr, iname, iby, bind, user, idle, deadline)
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
	res, err := commitScript.Run(ctx, s.client, []string{s.SessionKey(key)}, args...).Slice()
	if err != nil {
		return store.Result{}, s.fail("commit", err)
	}
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
		return store.Result{}, fmt.Errorf("redisstore: commit: increment %q: %w", iname, store.ErrNotInteger)
	}
	return store.Result{}, fmt.Errorf("redisstore: commit: unexpected reply %v: %w", status, store.ErrCorrupt)
}

// Destroy implements store.Store.
func (s *Store) Destroy(ctx context.Context, key string) error {
	user, err := destroyScript.Run(ctx, s.client, []string{s.SessionKey(key)}).Text()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return s.fail("destroy", err)
	}
	s.client.ZRem(ctx, s.UserKey(user), key) // best effort, see Take
	return nil
}

// UserSessions implements store.UserIndex. It prunes entries of sessions
// that are gone or bound to someone else.
func (s *Store) UserSessions(ctx context.Context, user string, now time.Time) ([]store.SessionInfo, error) {
	ukey := s.UserKey(user)
	keys, err := s.client.ZRange(ctx, ukey, 0, -1).Result()
	if err != nil {
		return nil, s.fail("user sessions", err)
	}
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, s.SessionKey(k), "@v", "@u", "@c", "@t", "@i", "@d")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.fail("user sessions", err)
	}
	var infos []store.SessionInfo
	var dead []any
	for i, k := range keys {
		v, err := cmds[i].Result()
		info, ok := sessionInfo(k, v, err)
		if !ok || info.User != user || !now.Before(info.ExpiresAt) {
			dead = append(dead, k)
			continue
		}
		infos = append(infos, info)
	}
	if len(dead) > 0 {
		s.client.ZRem(ctx, ukey, dead...) // best effort
	}
	return infos, nil
}

func sessionInfo(key string, v []any, err error) (store.SessionInfo, bool) {
	if err != nil || len(v) != 6 || v[0] != strconv.Itoa(store.FormatVersion) {
		return store.SessionInfo{}, false
	}
	n := func(i int) (int64, bool) {
		s, _ := v[i].(string)
		x, err := strconv.ParseInt(s, 10, 64)
		return x, err == nil
	}
	user, _ := v[1].(string)
	c, ok1 := n(2)
	t, ok2 := n(3)
	idle, ok3 := n(4)
	d, ok4 := n(5)
	if !(ok1 && ok2 && ok3 && ok4) {
		return store.SessionInfo{}, false
	}
	rec := store.Record{Touched: time.UnixMilli(t), IdleTimeout: time.Duration(idle) * time.Millisecond, Deadline: time.UnixMilli(d)}
	return store.SessionInfo{
		Key: key, User: user, Created: time.UnixMilli(c), Touched: rec.Touched,
		Deadline: rec.Deadline, ExpiresAt: rec.ExpiresAt(),
	}, true
}

// parseRecord turns a script's flat hash reply into a Record.
func parseRecord(op string, res any) (*store.Record, error) {
	arr, ok := res.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, fmt.Errorf("redisstore: %s: reply of type %T: %w", op, res, store.ErrCorrupt)
	}
	rec := &store.Record{Values: make(map[string][]byte, len(arr)/2)}
	var seen int
	for i := 0; i < len(arr); i += 2 {
		name, ok1 := arr[i].(string)
		val, ok2 := arr[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("redisstore: %s: field of type %T: %w", op, arr[i+1], store.ErrCorrupt)
		}
		if name == "" || name[0] != '@' {
			rec.Values[name] = []byte(val)
			continue
		}
		var n int64
		var err error
		if name != "@u" {
			n, err = strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redisstore: %s: metadata %s=%q: %w", op, name, val, store.ErrCorrupt)
			}
		}
		switch name {
		case "@c":
			rec.Created = time.UnixMilli(n)
		case "@t":
			rec.Touched = time.UnixMilli(n)
			seen |= 1
		case "@i":
			rec.IdleTimeout = time.Duration(n) * time.Millisecond
			seen |= 2
		case "@d":
			rec.Deadline = time.UnixMilli(n)
			seen |= 4
		case "@u":
			rec.User = val
		}
	}
	if seen != 7 {
		return nil, fmt.Errorf("redisstore: %s: metadata missing: %w", op, store.ErrCorrupt)
	}
	return rec, nil
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

// fail maps a go-redis error to the store's errors.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		switch {
		case strings.Contains(msg, "CORRUPT"), strings.HasPrefix(msg, "WRONGTYPE"):
			return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrCorrupt, err)
		case strings.HasPrefix(msg, "LOADING"), strings.HasPrefix(msg, "CLUSTERDOWN"), strings.HasPrefix(msg, "MASTERDOWN"),
			strings.HasPrefix(msg, "READONLY"), strings.HasPrefix(msg, "TRYAGAIN"), strings.HasPrefix(msg, "OOM"),
			strings.HasPrefix(msg, "BUSY"):
			return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
		}
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

// ACL is the least privilege seshat needs, as the rules of a Redis ACL
// user for the default prefix:
//
//	ACL SETUSER seshat on >password resetkeys resetchannels <ACL>
//
// Keys: only those under "seshat:". Commands: connecting (HELLO, PING),
// the store's scripts (EVALSHA, EVAL) and the hash, sorted-set and expiry
// commands they call, reading user indexes, and SCAN for iterating
// sessions (rekey, listing). Cluster clients also need CLUSTER SLOTS and
// CLUSTER SHARDS for routing. Nothing else: no KEYS, no FLUSH*, no CONFIG,
// no SCRIPT, no pub/sub. (On Redis 7.2 and later, add +client|setinfo to
// spare go-redis a refused handshake command.)
const ACL = "~seshat:* -@all +hello +ping +evalsha +eval " +
	"+hgetall +hget +hmget +hset +hdel +hexists +hstrlen +hincrby " +
	"+exists +del +pexpireat +pttl +zadd +zrem +zrange +scan +cluster|slots +cluster|shards"

var globEscape = strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`)

// Scan implements store.Iterator with SCAN (MATCH on the prefix, TYPE
// hash), on every master of a Cluster one after the other.
func (s *Store) Scan(ctx context.Context, batch int, fn func(keys []string) error) error {
	if batch <= 0 {
		batch = 100
	}
	pattern := globEscape.Replace(s.prefix) + "{*}"
	visit := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.ScanType(ctx, cursor, pattern, int64(batch), "hash").Result()
			if err != nil {
				return s.fail("scan", err)
			}
			out := make([]string, 0, len(keys))
			for _, k := range keys {
				if inner, ok := strings.CutPrefix(k, s.prefix+"{"); ok && strings.HasSuffix(inner, "}") {
					out = append(out, strings.TrimSuffix(inner, "}"))
				}
			}
			if len(out) > 0 {
				if err := fn(out); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		var masters []*redis.Client
		var mu sync.Mutex
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			masters = append(masters, m)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return s.fail("scan", err)
		}
		for _, m := range masters {
			if err := visit(ctx, m); err != nil {
				return err
			}
		}
		return nil
	case *redis.Client:
		return visit(ctx, c)
	}
	return fmt.Errorf("redisstore: scan: client of type %T cannot scan", s.client)
}
