package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/store/storetest"
)

var prefixes atomic.Int64

// conformance runs the suite with a fresh key prefix per subtest: a fresh,
// empty store on a shared server.
func conformance(t *testing.T, client redis.UniversalClient) { conformanceUnder(t, client, "") }

// conformanceUnder is conformance with every key prefix under base.
func conformanceUnder(t *testing.T, client redis.UniversalClient, base string) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := redisstore.New(client, redisstore.Options{Prefix: fmt.Sprintf("%st%d:", base, prefixes.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformance(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) { conformance(t, top.Start(t).Client(t)) })
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// silent drops go-redis's own log lines (redials while a test has Redis
// down are expected).
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(silent{}) }
