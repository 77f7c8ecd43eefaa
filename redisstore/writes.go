package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

// Take implements store.Store. A replay of the same take (the client
// retrying after its connection dropped once Redis had run it) answers what
// the take took, not ErrMoved: the operation ID the script gets tells the two
// apart.
func (s *Store) Take(ctx context.Context, key string, now time.Time) (*store.Record, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("redisstore: take: %w", store.ErrNotFound)
	}
	ls := s.layouts()
	rec, err := s.takeIn(ctx, ls[0], key, now)
	if errors.Is(err, store.ErrNotFound) {
		if rec, err2 := s.takeIn(ctx, ls[1], key, now); !errors.Is(err2, store.ErrNotFound) {
			return rec, err2
		}
	}
	return rec, err
}

// takeIn is Take in layout l.
func (s *Store) takeIn(ctx context.Context, l Layout, key string, now time.Time) (*store.Record, error) {
	res, err := s.write(ctx, takeScript, s.keysIn(l, key), now.UnixMilli(), store.MovedGrace.Milliseconds(), opID()).Result()
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
	n, err := s.write(ctx, createScript, s.keysIn(s.layout, key), createArgs(rec)...).Int()
	if err != nil {
		return s.fail("create", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: create: %w", store.ErrExists)
	}
	s.touches.saw(key, rec.Touched)
	return nil
}

// createArgs returns the ARGV of create.lua for rec.
func createArgs(rec *store.Record) []any {
	args := make([]any, 0, 5+2*len(rec.Values))
	args = append(args, rec.Touched.UnixMilli(), metaExpiry(rec), formatMeta(rec, rec.Size()))
	if rec.User != "" {
		args = append(args, "@u", rec.User)
	}
	for k, v := range rec.Values {
		args = append(args, k, v)
	}
	return args
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
// A session not found in the layout the store writes is looked for in the
// other.
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	if !validKey(key) {
		return store.Result{}, fmt.Errorf("redisstore: commit: %w", store.ErrNotFound)
	}
	ls := s.layouts()
	r, err := s.commitIn(ctx, ls[0], key, d)
	if errors.Is(err, store.ErrNotFound) {
		if r, err2 := s.commitIn(ctx, ls[1], key, d); !errors.Is(err2, store.ErrNotFound) {
			return r, err2
		}
	}
	return r, err
}

// commitIn is Commit in layout l.
func (s *Store) commitIn(ctx context.Context, l Layout, key string, d *store.Delta) (store.Result, error) {
	if d.User != nil && *d.User != "" {
		// Index first: a bound session must never be missing from its
		// user's index, or revoking the user's sessions would miss it.
		// Binding happens at login, so the extra round trip is rare.
		raw, err := s.client.HGet(ctx, s.sessionKeyIn(l, key), "@").Result()
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
		return s.incr(ctx, l, key, d)
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
	log, ttl := s.opLog(l, key, d.Now)
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
	res, err := s.write(ctx, commitScript, s.keysWith(l, key, log), args...).Slice()
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
func (s *Store) incr(ctx context.Context, l Layout, key string, d *store.Delta) (store.Result, error) {
	log, ttl := s.opLog(l, key, d.Now)
	res, err := s.write(ctx, incrScript, s.keysWith(l, key, log), d.Now.UnixMilli(), d.Incr.Name, d.Incr.By,
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
	for _, l := range s.layouts() {
		if err := s.destroyIn(ctx, l, key); err != nil {
			return err
		}
	}
	return nil
}

// destroyIn is Destroy in layout l. (Destroy runs it in both: destroy.lua
// does not say whether it found a session bound to no user.)
func (s *Store) destroyIn(ctx context.Context, l Layout, key string) error {
	user, err := s.write(ctx, destroyScript, s.keysIn(l, key)).Text()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return s.fail("destroy", err)
	}
	s.client.ZRem(ctx, s.UserKey(user), key) // best effort, see Take
	return nil
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
		return s.run(ctx, sc, keys, args...)
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
