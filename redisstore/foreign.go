package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// foreignIndexes names the user indexes and operation logs that hold a
// type seshat does not write (something else wrote the key): they fail no
// request (the index leaves its sessions unlisted, the log costs its
// window exactly-once), and the administration commands name them. It
// scans every master in batches and asks each key's TYPE: an
// administration path, not a request path (Stats, which the metrics read
// every second, names only the count hashes).
func (s *Store) foreignIndexes(ctx context.Context) ([]string, error) {
	var foreign []string
	for _, k := range []struct{ pattern, want string }{
		{globEscape.Replace(s.prefix) + "u:{*}", "zset"},
		{globEscape.Replace(s.prefix) + "{*}#o*", "hash"}, // operation logs, of both layouts
	} {
		err := s.scanKeys(ctx, k.pattern, "", 500, func(keys []string) error {
			cmds := make([]*redis.StatusCmd, len(keys))
			_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, key := range keys {
					cmds[i] = p.Type(ctx, key)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for i, c := range cmds {
				if t := c.Val(); t != k.want && t != "none" {
					foreign = append(foreign, keys[i])
				}
			}
			return nil
		})
		if err != nil {
			return nil, s.fail("foreign keys", err)
		}
	}
	return foreign, nil
}
