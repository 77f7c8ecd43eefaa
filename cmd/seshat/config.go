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
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/seal"
)

// config is what every command shares: where sessions live, how cookies
// are signed, and how values are encrypted.
type config struct {
	redisURL string
	secrets  []string
	encKeys  []string
	hashKey  string

	localCache bool // serve only: redisstore.LocalCache
}

func (c *config) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.redisURL, "redis", "", "Redis URL: redis://, rediss://, redis+sentinel://, redis+cluster:// (default $REDIS_URL; none: the in-memory store)")
	f.StringArrayVar(&c.secrets, "secret", nil, "cookie signing secret, at least 32 bytes; repeat to rotate, the first signs (default $SESHAT_SECRETS, comma-separated)")
	f.StringArrayVar(&c.encKeys, "encryption-key", nil, "encrypt values at rest with this key, base64 of 32 bytes; repeat to rotate, the first encrypts (default $SESHAT_ENCRYPTION_KEYS, comma-separated)")
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
	health func(context.Context) error
	close  func() error
	redis  *redisstore.Store // nil with the memory store
}

// build opens the store and fills in seshat.Options. warn receives the
// warning about a random signing secret; nil means admin commands, which
// sign no cookies and need none.
func (c *config) build(warn io.Writer) (*setup, error) {
	s := &setup{close: func() error { return nil }}
	for _, v := range list(c.secrets, "SESHAT_SECRETS") {
		s.opts.Secrets = append(s.opts.Secrets, []byte(v))
	}
	if len(s.opts.Secrets) == 0 {
		if warn != nil {
			fmt.Fprintln(warn, "seshat: warning: no --secret or SESHAT_SECRETS given; using a random secret, so sessions end when this process does")
		}
		s.opts.Secrets = [][]byte{[]byte(rand.Text() + rand.Text())}
	}
	hashKey := c.hashKey
	if hashKey == "" {
		hashKey = os.Getenv("SESHAT_HASH_KEY")
	}
	if hashKey != "" {
		s.opts.HashKey = []byte(hashKey)
	}
	if keys := list(c.encKeys, "SESHAT_ENCRYPTION_KEYS"); len(keys) > 0 {
		raw, err := seal.ParseKeys(keys...)
		if err != nil {
			return nil, err
		}
		ring, err := seal.NewRing(raw...)
		if err != nil {
			return nil, err
		}
		if hashKey == "" {
			return nil, fmt.Errorf("--encryption-key needs --hash-key (or SESHAT_HASH_KEY): a key of at least 32 bytes that never rotates")
		}
		s.opts.Encryption = ring
	}

	url := c.redisURL
	if url == "" {
		url = os.Getenv("REDIS_URL")
	}
	if url == "" {
		s.opts.Store = memstore.New()
		return s, nil
	}
	var ro redisstore.Options
	if c.localCache {
		ro.LocalCache = &redisstore.LocalCache{}
	}
	st, err := redisstore.Open(url, ro)
	if err != nil {
		return nil, err
	}
	s.opts.Store, s.redis, s.close = st, st, st.Close
	s.health = func(ctx context.Context) error { return st.Client().Ping(ctx).Err() }
	return s, nil
}
