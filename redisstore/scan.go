package redisstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

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
	all, err := s.infos(ctx, keys, now)
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

var globEscape = strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`)

// Scan implements store.Iterator with SCAN (MATCH on the prefix, TYPE
// hash), on every master of a Cluster one after the other, reading each
// batch's metadata in one pipeline. One pass finds the sessions of both
// layouts.
func (s *Store) Scan(ctx context.Context, now time.Time, batch int, fn func([]store.SessionInfo) error) error {
	if batch <= 0 {
		batch = 100
	}
	var fnErr error
	err := s.scanKeys(ctx, globEscape.Replace(s.prefix)+"{*}?*", "hash", batch, func(keys []string) error {
		found := map[Layout][]string{}
		for _, k := range keys {
			if l, key, ok := s.parseSessionKey(k); ok {
				found[l] = append(found[l], key)
			}
		}
		var infos []store.SessionInfo
		for _, l := range s.layouts() {
			if len(found[l]) == 0 {
				continue
			}
			got, err := s.infosIn(ctx, l, found[l], now)
			if err != nil {
				return err
			}
			infos = append(infos, got...)
		}
		if len(infos) == 0 {
			return nil
		}
		fnErr = fn(infos)
		return fnErr
	})
	if err != nil && err != fnErr {
		return s.fail("scan", err)
	}
	return err
}

// parseSessionKey returns the layout and store key of a session's Redis
// key, "<prefix>{<tag>}<key>"; ok is false for any other key (the
// buckets' own keys start with "#" after the tag).
func (s *Store) parseSessionKey(k string) (l Layout, key string, ok bool) {
	rest, ok := strings.CutPrefix(k, s.prefix+"{")
	if !ok {
		return 0, "", false
	}
	tag, key, ok := strings.Cut(rest, "}")
	if !ok || key == "" || key[0] == '#' {
		return 0, "", false
	}
	for _, l := range []Layout{LayoutBuckets, LayoutSlots} {
		if l.tag(key) == tag {
			return l, key, true
		}
	}
	return 0, "", false
}

// infos reads the metadata of sessions, in both layouts (the one the store
// writes first), and keeps the live ones.
func (s *Store) infos(ctx context.Context, keys []string, now time.Time) ([]store.SessionInfo, error) {
	fields, err := s.sessionFields(ctx, keys, "@", "@u")
	if err != nil {
		return nil, err
	}
	return liveInfos(keys, fields, now), nil
}

// infosIn is infos for sessions of layout l.
func (s *Store) infosIn(ctx context.Context, l Layout, keys []string, now time.Time) ([]store.SessionInfo, error) {
	fields, err := s.fieldsIn(ctx, l, keys, "@", "@u")
	if err != nil {
		return nil, err
	}
	return liveInfos(keys, fields, now), nil
}

func liveInfos(keys []string, fields [][]any, now time.Time) []store.SessionInfo {
	infos := make([]store.SessionInfo, 0, len(keys))
	for i, k := range keys {
		if info, ok := sessionInfo(k, fields[i], nil); ok && now.Before(info.ExpiresAt) {
			infos = append(infos, info)
		}
	}
	return infos
}

// fieldsIn reads fields of sessions of layout l in one pipeline: for each
// session, its values of the fields (nil where absent), or nil when the
// read failed.
func (s *Store) fieldsIn(ctx context.Context, l Layout, keys []string, fields ...string) ([][]any, error) {
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, s.sessionKeyIn(l, k), fields...)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([][]any, len(keys))
	for i, c := range cmds {
		if v, err := c.Result(); err == nil && len(v) == len(fields) {
			out[i] = v
		}
	}
	return out, nil
}

// sessionFields is fieldsIn for sessions of either layout: those with none
// of the fields in the layout the store writes are read again in the
// other, in a second pipeline.
func (s *Store) sessionFields(ctx context.Context, keys []string, fields ...string) ([][]any, error) {
	ls := s.layouts()
	out, err := s.fieldsIn(ctx, ls[0], keys, fields...)
	if err != nil {
		return nil, err
	}
	var again []string
	var at []int
	for i, v := range out {
		if allNil(v) {
			again, at = append(again, keys[i]), append(at, i)
		}
	}
	if len(again) == 0 {
		return out, nil
	}
	more, err := s.fieldsIn(ctx, ls[1], again, fields...)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		if !allNil(more[j]) {
			out[i] = more[j]
		}
	}
	return out, nil
}

func allNil(v []any) bool {
	for _, x := range v {
		if x != nil {
			return false
		}
	}
	return true
}
