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

// The tests that start their own servers, put no load on them and time
// nothing run in parallel (t.Parallel): this package's tests are the
// longest of the test command. The conformance and exactly-once tests run
// alone: their hundreds of parallel commits through 20 pooled connections
// (and, for exactly-once, through proxies that drop replies) timed out
// waiting for a connection when they shared the machine's two cores with
// each other.

// conformance runs the suite with a fresh key prefix per subtest: a fresh,
// empty store on a shared server.
func conformance(t *testing.T, client redis.UniversalClient, tweak ...func(*redisstore.Store)) {
	conformanceUnder(t, client, "", tweak...)
}

// conformanceUnder is conformance with every key prefix under base.
func conformanceUnder(t *testing.T, client redis.UniversalClient, base string, tweak ...func(*redisstore.Store)) {
	storetest.Run(t, stores(client, base, tweak...))
}

// stores returns fresh, empty stores on client, each under a key prefix of
// its own under base.
func stores(client redis.UniversalClient, base string, tweak ...func(*redisstore.Store)) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		s, err := redisstore.New(client, redisstore.Options{Prefix: fmt.Sprintf("%st%d:", base, prefixes.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range tweak {
			f(s)
		}
		return s
	}
}

// Every load and write through the autopipeliner, which the default
// options use under load: the guarantees hold on each topology. (The
// suite runs again without it through the reply-dropping proxies, in
// TestExactlyOnce*, and with the default threshold in the cache's tests.)
func TestConformance(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) { conformance(t, top.Start(t).Client(t), redisstore.PipelineAll) })
	}
}

// The suite's cases without HTTP (Manager.Open, as WebSocket and gRPC
// code uses it), configured as TestConformance, on a server and on a
// Cluster (a Sentinel deployment serves through one master, as a server
// does).
func TestConformanceOpen(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		storetest.RunOpen(t, stores(redistest.Start(t).Client(t), "", redisstore.PipelineAll))
	})
	t.Run("cluster", func(t *testing.T) {
		storetest.RunOpen(t, stores(redistest.StartCluster(t, 3, 0).Client(t), "", redisstore.PipelineAll))
	})
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// silent drops go-redis's own log lines (redials while a test has Redis
// down are expected).
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(silent{}) }
