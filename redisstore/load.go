package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

// Load implements store.Store, in one round trip (none from LocalCache).
// When the store knows the session was touched less than opts.TouchAfter
// ago (it remembers the last Touched it saw of recent sessions, which is
// never later than the stored one), it reads with a plain HGETALL, a
// native command that costs Redis a fraction of a script. Otherwise it
// runs load.lua, which reads and refreshes the idle expiry if it is due.
// A session not found in the layout the store writes is looked for in the
// other (a second round trip, for sessions created before a change of
// layout and for sessions that do not exist).
func (s *Store) Load(ctx context.Context, key string, opts store.LoadOptions) (*store.Record, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("redisstore: load: %w", store.ErrNotFound)
	}
	ls := s.layouts()
	rec, err := s.loadIn(ctx, ls[0], key, opts)
	if errors.Is(err, store.ErrNotFound) {
		if rec, err2 := s.loadIn(ctx, ls[1], key, opts); !errors.Is(err2, store.ErrNotFound) {
			return rec, err2
		}
	}
	return rec, err
}

// loadIn is Load in layout l.
func (s *Store) loadIn(ctx context.Context, l Layout, key string, opts store.LoadOptions) (*store.Record, error) {
	rkey := s.sessionKeyIn(l, key)
	h, cached := s.cached(rkey)
	if !cached && !s.touches.fresh(key, opts) {
		return s.loadTouching(ctx, l, key, opts, nil)
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
	return s.loadTouching(ctx, l, key, opts, rec) // a copy from the cache, with a touch due
}

// loadTouching runs load.lua in layout l. read, if not nil, is what a read
// found; it is returned untouched when Redis is full and refuses the script.
func (s *Store) loadTouching(ctx context.Context, l Layout, key string, opts store.LoadOptions, read *store.Record) (*store.Record, error) {
	keys := s.keysIn(l, key)
	res, err := s.run(ctx, loadScript, keys,
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

// hgetall reads a hash through via, and again on a connection of its own
// when the autopipeliner failed it without an answer from Redis.
func (s *Store) hgetall(ctx context.Context, rkey string) (map[string]string, error) {
	c := s.via()
	h, err := c.HGetAll(ctx, rkey).Result()
	s.done()
	if s.again(ctx, c, err) {
		h, err = s.client.HGetAll(ctx, rkey).Result()
	}
	return h, err
}

// fetch reads a session's hash with HGETALL, caching what it finds when
// there is a cache.
func (s *Store) fetch(ctx context.Context, rkey string) (map[string]string, error) {
	if s.cache == nil {
		return s.hgetall(ctx, rkey)
	}
	s.cache.begin(rkey)
	h, err := s.hgetall(ctx, rkey)
	if err != nil || len(h) == 0 {
		s.cache.end(rkey, nil)
	} else {
		s.cache.end(rkey, h)
	}
	return h, err
}
