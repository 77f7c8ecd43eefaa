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
