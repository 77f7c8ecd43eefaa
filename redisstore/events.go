package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

var _ store.EventLog = (*Store)(nil)

// eventLogLength bounds the event stream (approximately, as XADD MAXLEN ~).
const eventLogLength = 100000

func (s *Store) eventsKey() string { return s.prefix + "events" }

// Publish implements store.EventLog: XADD to "<prefix>events", a stream
// capped at about 100,000 events.
func (s *Store) Publish(ctx context.Context, e store.LifecycleEvent) error {
	err := s.client.XAdd(ctx, &redis.XAddArgs{
		Stream: s.eventsKey(), MaxLen: eventLogLength, Approx: true,
		Values: []any{"k", string(e.Kind), "r", string(e.Reason), "h", e.Handle, "p", e.Previous, "u", e.User, "t", e.At.UnixMilli()},
	}).Err()
	return s.fail("publish", err)
}

// Follow implements store.EventLog with XREAD BLOCK from the stream's end.
func (s *Store) Follow(ctx context.Context, fn func(store.LifecycleEvent)) error {
	last := "0-0"
	for ctx.Err() == nil {
		msgs, err := s.client.XRevRangeN(ctx, s.eventsKey(), "+", "-", 1).Result()
		if err == nil {
			if len(msgs) > 0 {
				last = msgs[0].ID
			}
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	for ctx.Err() == nil {
		res, err := s.client.XRead(ctx, &redis.XReadArgs{Streams: []string{s.eventsKey(), last}, Block: time.Second, Count: 100}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			sleep(ctx, 200*time.Millisecond) // the store is down: retry
			continue
		}
		for _, st := range res {
			for _, m := range st.Messages {
				last = m.ID
				fn(parseEvent(m.Values))
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func parseEvent(v map[string]any) store.LifecycleEvent {
	str := func(k string) string { s, _ := v[k].(string); return s }
	ms, _ := strconv.ParseInt(str("t"), 10, 64)
	return store.LifecycleEvent{Kind: store.Kind(str("k")), Reason: store.Reason(str("r")), Handle: str("h"), Previous: str("p"), User: str("u"), At: time.UnixMilli(ms)}
}

// SweepExpired implements store.EventLog. Under a lock ("<prefix>sweeper",
// held for lockFor), it scans the user indexes in batches and publishes an
// "expired" event for each session that is gone or past its expiry, then
// removes it from the index. Sessions destroyed or regenerated leave the
// index when that happens, so what is left and dead has expired.
func (s *Store) SweepExpired(ctx context.Context, now time.Time, lockFor time.Duration) error {
	ok, err := s.client.SetNX(ctx, s.prefix+"sweeper", now.UnixMilli(), lockFor).Result()
	if err != nil {
		return s.fail("sweep", err)
	}
	if !ok {
		return nil // another instance sweeps
	}
	err = s.scanKeys(ctx, globEscape.Replace(s.prefix)+"u:{*}", "zset", 200, func(indexes []string) error {
		for _, ikey := range indexes {
			if err := s.sweepIndex(ctx, ikey, now); err != nil {
				return err
			}
		}
		return nil
	})
	return s.fail("sweep", err)
}

func (s *Store) sweepIndex(ctx context.Context, ikey string, now time.Time) error {
	members, err := s.client.ZRange(ctx, ikey, 0, -1).Result()
	if err != nil {
		return err
	}
	var user string
	keys := members[:0]
	for _, m := range members {
		if u, ok := strings.CutPrefix(m, "~"); ok {
			user = u
		} else {
			keys = append(keys, m)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	// In both layouts: a session is gone only when neither holds it.
	fields, err := s.sessionFields(ctx, keys, "@", "@m")
	if err != nil {
		return err
	}
	var gone []any
	for i, k := range keys {
		v := fields[i]
		if len(v) != 2 {
			continue
		}
		raw, _ := v[0].(string)
		if v[1] != nil { // moved by a regenerate: not an expiry
			gone = append(gone, k)
			continue
		}
		if raw != "" {
			if rec, err := parseMeta(raw); err != nil || now.Before(rec.ExpiresAt()) {
				continue // alive (or not ours to judge)
			}
		}
		// Report first, then forget: at least once.
		if err := s.Publish(ctx, store.LifecycleEvent{Kind: store.Expired, Handle: k, User: user, At: now}); err != nil {
			return err
		}
		gone = append(gone, k)
	}
	if len(gone) > 0 {
		return s.client.ZRem(ctx, ikey, gone...).Err()
	}
	return nil
}

var _ store.EventEraser = (*Store)(nil)

// EraseUser implements store.EventEraser: it reads the event stream in
// pages of 1,000 (XRANGE) and deletes the entries of user (XDEL). Entries
// published while it runs are read too, up to the stream's end when it
// gets there. It also removes the user's index once no live session is in
// it (the index names the user for the expiry sweeper): entries of
// sessions gone for over a minute go first, so that erasing a user who
// has only ended sessions leaves nothing that names them.
func (s *Store) EraseUser(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, nil
	}
	if err := s.eraseIndex(ctx, user, time.Now()); err != nil {
		return 0, err
	}
	n, start := 0, "-"
	for {
		page, err := s.client.XRangeN(ctx, s.eventsKey(), start, "+", 1000).Result()
		if err != nil {
			return n, s.fail("erase events", err)
		}
		var ids []string
		for _, m := range page {
			if u, _ := m.Values["u"].(string); u == user {
				ids = append(ids, m.ID)
			}
		}
		if len(ids) > 0 {
			del, err := s.client.XDel(ctx, s.eventsKey(), ids...).Result()
			if err != nil {
				return n, s.fail("erase events", err)
			}
			n += int(del)
		}
		if len(page) < 1000 {
			return n, nil
		}
		start = "(" + page[len(page)-1].ID
	}
}

// dropEmptyIndex deletes a user index that holds nothing but the member
// naming its user, atomically: a session indexed meanwhile keeps it.
var dropEmptyIndex = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) == 1 and string.sub(redis.call('ZRANGE', KEYS[1], 0, 0)[1], 1, 1) == '~' then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// eraseIndex removes from user's index the sessions gone for over
// store.MovedGrace (a session indexed just now may not be bound yet), then
// the index itself if nothing else is left in it.
func (s *Store) eraseIndex(ctx context.Context, user string, now time.Time) error {
	ikey := s.UserKey(user)
	members, err := s.client.ZRangeWithScores(ctx, ikey, 0, -1).Result()
	if err != nil {
		return s.fail("erase user index", err)
	}
	var keys []string
	for _, m := range members {
		if k, _ := m.Member.(string); !strings.HasPrefix(k, "~") {
			keys = append(keys, k)
		}
	}
	infos, err := s.infos(ctx, keys, now)
	if err != nil {
		return s.fail("erase user index", err)
	}
	live := make(map[string]bool, len(infos))
	for _, in := range infos {
		live[in.Key] = in.User == user
	}
	var gone []any
	old := float64(now.Add(-store.MovedGrace).UnixMilli())
	for _, m := range members {
		k, _ := m.Member.(string)
		if !strings.HasPrefix(k, "~") && !live[k] && m.Score < old {
			gone = append(gone, k)
		}
	}
	if len(gone) > 0 {
		if err := s.client.ZRem(ctx, ikey, gone...).Err(); err != nil {
			return s.fail("erase user index", err)
		}
	}
	if err := dropEmptyIndex.Run(ctx, s.client, []string{ikey}).Err(); err != nil {
		return s.fail("erase user index", err)
	}
	return nil
}
