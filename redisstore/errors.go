package redisstore

import (
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/store"
)

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
