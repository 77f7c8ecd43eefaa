package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// storeKind is the kind of store a store URL names.
type storeKind string

// The stores the command can use.
const (
	storeMemory   storeKind = "memory"
	storeRedis    storeKind = "redis"
	storePostgres storeKind = "postgres"
)

// storeSchemes maps each accepted URL scheme to its store.
var storeSchemes = []struct {
	scheme string
	kind   storeKind
}{
	{"redis", storeRedis}, {"rediss", storeRedis}, {"redis+sentinel", storeRedis}, {"redis+cluster", storeRedis},
	{"postgres", storePostgres}, {"postgresql", storePostgres},
}

// acceptedStores lists what --store takes, for error messages and help.
const acceptedStores = "memory, redis://, rediss://, redis+sentinel://, redis+cluster://, postgres://, postgresql://"

// storeFlags are the flags that say where sessions live: --store (any
// store) and --redis (Redis only, kept from before --store existed).
type storeFlags struct {
	store string
	redis string
}

// register adds --store and --redis to cmd.
func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.store, "store", "", "where sessions live: memory, or a URL: "+acceptedStores[len("memory, "):]+" (default $SESHAT_STORE, then $REDIS_URL, then memory)")
	cmd.Flags().StringVar(&f.redis, "redis", "", "a Redis URL, the same as --store with a redis scheme (default $REDIS_URL)")
}

// resolve returns the store URL and its kind. A flag wins over the
// environment, and SESHAT_STORE over REDIS_URL (a platform may set
// REDIS_URL for other uses); --store and --redis given together must
// agree. No URL at all, or "memory", is the in-memory store.
func (f storeFlags) resolve() (string, storeKind, error) {
	u, redisOnly, err := f.pick()
	if err != nil {
		return "", "", err
	}
	kind, err := kindOf(u)
	if err != nil {
		return "", "", err
	}
	if redisOnly != "" && kind != storeRedis {
		return "", "", fmt.Errorf("%s takes a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://); use --store for %s", redisOnly, kind)
	}
	return u, kind, nil
}

// pick chooses the URL among the flags and the environment; redisOnly
// names where it came from when that place takes Redis URLs only.
func (f storeFlags) pick() (u, redisOnly string, err error) {
	switch {
	case f.store != "" && f.redis != "" && f.store != f.redis:
		return "", "", errors.New("--store and --redis name different stores: give one of them")
	case f.store != "":
		return f.store, "", nil
	case f.redis != "":
		return f.redis, "--redis", nil
	}
	if v := os.Getenv("SESHAT_STORE"); v != "" {
		return v, "", nil
	}
	if v := os.Getenv("REDIS_URL"); v != "" {
		return v, "REDIS_URL", nil
	}
	return "", "", nil
}

// kindOf tells the store a URL names by its scheme. The error names the
// scheme only, never the URL, which may hold a password.
func kindOf(u string) (storeKind, error) {
	if u == "" || u == "memory" || u == "memory://" {
		return storeMemory, nil
	}
	scheme, _, ok := strings.Cut(u, "://")
	if ok {
		for _, s := range storeSchemes {
			if s.scheme == scheme {
				return s.kind, nil
			}
		}
	}
	if !ok || scheme == "" {
		return "", fmt.Errorf("store URL has no scheme: give one of %s", acceptedStores)
	}
	return "", fmt.Errorf("unknown store scheme %q: give one of %s", scheme, acceptedStores)
}

// String is how messages name a store kind.
func (k storeKind) String() string {
	switch k {
	case storeRedis:
		return "Redis"
	case storePostgres:
		return "PostgreSQL"
	}
	return "the in-memory store"
}

// externalStore resolves the flags for a command that reads a store
// another process writes: the in-memory store is refused.
func externalStore(f storeFlags, command string) (string, storeKind, error) {
	u, kind, err := f.resolve()
	if err == nil && kind == storeMemory {
		err = fmt.Errorf("%s needs --store URL (or SESHAT_STORE, or REDIS_URL) naming Redis or PostgreSQL: the in-memory store of another process cannot be reached", command)
	}
	return u, kind, err
}
