package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/store"
)

// storeFlags is the configuration every command shares: where sessions
// live and how cookies are signed.
type storeFlags struct {
	redisURL string
	secrets  []string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.redisURL, "redis", "", "Redis URL: redis://, rediss://, redis+sentinel://, redis+cluster:// (default $REDIS_URL; none: the in-memory store)")
	cmd.Flags().StringArrayVar(&f.secrets, "secret", nil, "cookie signing secret, at least 32 bytes; repeat to rotate, the first signs (default $SESHAT_SECRETS, comma-separated)")
}

// openStore returns the configured store and a function that closes it.
func (f *storeFlags) openStore() (store.Store, func(context.Context) error, func() error, error) {
	url := f.redisURL
	if url == "" {
		url = os.Getenv("REDIS_URL")
	}
	if url == "" {
		return memstore.New(), nil, func() error { return nil }, nil
	}
	s, err := redisstore.Open(url, redisstore.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	health := func(ctx context.Context) error { return s.Client().Ping(ctx).Err() }
	return s, health, s.Close, nil
}

// signingSecrets returns the secrets from the flags or the environment, or
// a random one with a warning when there are none.
func (f *storeFlags) signingSecrets(stderr io.Writer) ([][]byte, error) {
	list := f.secrets
	if len(list) == 0 {
		if env := os.Getenv("SESHAT_SECRETS"); env != "" {
			list = strings.Split(env, ",")
		}
	}
	var out [][]byte
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, []byte(s))
		}
	}
	if len(out) == 0 {
		fmt.Fprintln(stderr, "seshat: warning: no --secret or SESHAT_SECRETS given; using a random secret, so sessions end when this process does")
		out = [][]byte{[]byte(rand.Text() + rand.Text())}
	}
	return out, nil
}
