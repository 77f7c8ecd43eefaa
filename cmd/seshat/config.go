package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/seal"
)

// config is what every command shares: where sessions live, how cookies
// are signed, and how values are encrypted.
type config struct {
	store   storeFlags
	secrets []string
	encKeys []string
	hashKey string
	events  bool

	localCache bool // serve only: redisstore.LocalCache
	sweep      bool // serve only: PostgreSQL removes expired rows (admin commands leave that to the servers)
}

// register adds the shared flags to cmd.
func (c *config) register(cmd *cobra.Command) {
	c.store.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&c.secrets, "secret", nil, "cookie signing secret, at least 32 bytes; repeat to rotate, the first signs (default $SESHAT_SECRETS, comma-separated)")
	f.StringArrayVar(&c.encKeys, "encryption-key", nil, "encrypt values at rest with this key, base64 of 32 bytes; repeat to rotate, the first encrypts (default $SESHAT_ENCRYPTION_KEYS, comma-separated)")
	f.BoolVar(&c.events, "events", false, "publish session lifecycle events (created, regenerated, destroyed, expired) to the store's event log, which every instance follows; users appear in it as keyed hashes")
	f.StringVar(&c.hashKey, "hash-key", "", "key of the hash that names sessions and users in the store, at least 32 bytes; required with encryption, never rotated (default $SESHAT_HASH_KEY)")
}

// list returns the flag's values, or the environment variable's
// comma-separated ones.
func list(flag []string, env string) []string {
	if len(flag) == 0 {
		if v := os.Getenv(env); v != "" {
			flag = strings.Split(v, ",")
		}
	}
	var out []string
	for _, s := range flag {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// setup is a configured manager and what it holds open.
type setup struct {
	opts   seshat.Options
	kind   storeKind
	health func(context.Context) error // nil with the memory store
	close  func() error
	redis  *redisstore.Store // nil unless kind is storeRedis
	pg     *pgstore.Store    // nil unless kind is storePostgres
}

// build opens the store and fills in seshat.Options. warn receives the
// warning about a random signing secret; nil means admin commands, which
// sign no cookies and need none. ctx bounds opening the store (connecting
// to PostgreSQL and migrating its schema).
func (c *config) build(ctx context.Context, warn io.Writer) (*setup, error) {
	s := &setup{close: func() error { return nil }}
	if err := c.keys(s, warn); err != nil {
		return nil, err
	}
	if err := c.open(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// keys fills in the secrets, the hash key and the encryption keys.
func (c *config) keys(s *setup, warn io.Writer) error {
	for _, v := range list(c.secrets, "SESHAT_SECRETS") {
		s.opts.Secrets = append(s.opts.Secrets, []byte(v))
	}
	if len(s.opts.Secrets) == 0 {
		if warn != nil {
			fmt.Fprintln(warn, "seshat: warning: no --secret or SESHAT_SECRETS given; using a random secret, so sessions end when this process does")
		}
		s.opts.Secrets = [][]byte{[]byte(rand.Text() + rand.Text())}
	}
	s.opts.Events = c.events
	hashKey := c.hashKey
	if hashKey == "" {
		hashKey = os.Getenv("SESHAT_HASH_KEY")
	}
	if hashKey != "" {
		s.opts.HashKey = []byte(hashKey)
	} else if warn != nil {
		fmt.Fprintln(warn, "seshat: warning: no --hash-key or SESHAT_HASH_KEY given; user IDs and devices are kept out of sight in the store, not secret (their hash and seal keys are public)")
	}
	if keys := list(c.encKeys, "SESHAT_ENCRYPTION_KEYS"); len(keys) > 0 {
		raw, err := seal.ParseKeys(keys...)
		if err != nil {
			return err
		}
		ring, err := seal.NewRing(raw...)
		if err != nil {
			return err
		}
		if hashKey == "" {
			return fmt.Errorf("--encryption-key needs --hash-key (or SESHAT_HASH_KEY): a key of at least 32 bytes that never rotates")
		}
		s.opts.Encryption = ring
	}
	return nil
}

// open opens the store the flags or the environment name.
func (c *config) open(ctx context.Context, s *setup) error {
	url, kind, err := c.store.resolve()
	if err != nil {
		return err
	}
	if c.localCache && kind != storeRedis {
		return fmt.Errorf("--local-cache needs a Redis store (it caches what Redis invalidates); the store is %s", kind)
	}
	s.kind = kind
	switch kind {
	case storeRedis:
		return c.openRedis(url, s)
	case storePostgres:
		return c.openPostgres(ctx, url, s)
	}
	s.opts.Store = memstore.New()
	return nil
}

// openRedis opens a Redis store; its health check is a PING.
func (c *config) openRedis(url string, s *setup) error {
	var ro redisstore.Options
	if c.localCache {
		ro.LocalCache = &redisstore.LocalCache{}
	}
	st, err := redisstore.Open(url, ro)
	if err != nil {
		return err
	}
	s.opts.Store, s.redis, s.close = st, st, st.Close
	s.health = func(ctx context.Context) error { return st.Client().Ping(ctx).Err() }
	return nil
}

// openPostgres opens a PostgreSQL store; its health check pings the pool.
// Only serve sweeps and migrates the schema (as pgstore.Open does by
// default); the administration commands change nothing but sessions.
func (c *config) openPostgres(ctx context.Context, url string, s *setup) error {
	var po pgstore.Options
	if !c.sweep {
		po.SweepEvery, po.SkipMigrate = -1, true
	}
	st, err := pgstore.Open(ctx, url, po)
	if err != nil {
		return fmt.Errorf("cannot open the PostgreSQL store: %w", err)
	}
	s.opts.Store, s.pg, s.close = st, st, st.Close
	s.health = func(ctx context.Context) error { return st.Pool().Ping(ctx) }
	return nil
}
