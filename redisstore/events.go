package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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

// EraseUser implements store.EventEraser. The stream is rewritten without
// the user's entries (XDEL would only mark them deleted: their bytes would
// stay in the stream's memory and in the next RDB file): the other entries
// are copied, with their IDs, to a new stream in the same slot, in pages of
// 1,000, and a script copies what was published meanwhile and renames the
// copy over the stream, atomically. Followers go on from their last ID.
// An append-only file keeps the old entries until its next rewrite
// (BGREWRITEAOF). EraseUser also removes the user's index once no live
// session is in it (the index names the user for the expiry sweeper).
func (s *Store) EraseUser(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, nil
	}
	if err := s.eraseIndex(ctx, user); err != nil {
		return 0, err
	}
	key := s.eventsKey()
	// The copy's name starts with the prefix (an ACL's key pattern) and
	// hashes to the stream's slot (its tag, or the prefix's own).
	tmp := fmt.Sprintf("%s{%s}events:erasing:%x", s.prefix, slotTag(keySlot(key)), rand.Uint64())
	defer s.client.Del(context.WithoutCancel(ctx), tmp) // left only by a failure
	last, n, start := "", 0, "-"
	for {
		page, err := s.client.XRangeN(ctx, key, start, "+", 1000).Result()
		if err != nil {
			return 0, s.fail("erase events", err)
		}
		pipe := s.client.Pipeline()
		for _, m := range page {
			if u, _ := m.Values["u"].(string); u == user {
				n++
				continue
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: tmp, ID: m.ID, Values: m.Values})
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return 0, s.fail("erase events", err)
		}
		if len(page) > 0 {
			last = page[len(page)-1].ID
		}
		if len(page) < 1000 {
			break
		}
		start = "(" + last
	}
	if last == "" {
		return 0, nil // no stream
	}
	if n == 0 { // nothing to erase, unless published in the last moments
		newer, err := s.client.XRange(ctx, key, "("+last, "+").Result()
		if err != nil {
			return 0, s.fail("erase events", err)
		}
		if !slices.ContainsFunc(newer, func(m redis.XMessage) bool { u, _ := m.Values["u"].(string); return u == user }) {
			return 0, nil
		}
	}
	more, err := eraseStreamScript.Run(ctx, s.client, []string{key, tmp}, last, user, n).Int()
	if err != nil {
		return 0, s.fail("erase events", err)
	}
	return n + more, nil
}

// keySlot is the Cluster slot of a key: of its hash tag, if it has one.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return slotOf(key[i+1 : i+1+j])
		}
	}
	return slotOf(key)
}

// eraseIndex removes from user's index the entries of sessions that no
// longer exist, indexed over store.MovedGrace ago by Redis's clock (a
// session is indexed just before it is created or bound), then the index
// itself if it names nothing but the user. An entry of a session that
// exists stays, whoever it is bound to: it may be being bound to the user.
func (s *Store) eraseIndex(ctx context.Context, user string) error {
	ikey := s.UserKey(user)
	now, err := s.client.Time(ctx).Result()
	if err != nil {
		return s.fail("erase user index", err)
	}
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
	exists := make(map[string]bool, len(infos))
	for _, in := range infos {
		exists[in.Key] = true
	}
	var gone []any
	old := float64(now.Add(-store.MovedGrace).UnixMilli())
	for _, m := range members {
		k, _ := m.Member.(string)
		if !strings.HasPrefix(k, "~") && !exists[k] && m.Score < old {
			gone = append(gone, k)
		}
	}
	if len(gone) > 0 {
		if err := s.client.ZRem(ctx, ikey, gone...).Err(); err != nil {
			return s.fail("erase user index", err)
		}
	}
	if err := eraseIndexScript.Run(ctx, s.client, []string{ikey}).Err(); err != nil {
		return s.fail("erase user index", err)
	}
	return nil
}
