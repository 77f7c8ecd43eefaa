package multi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
	"github.com/seshat-go/seshat/store"
)

// The store collector of the metrics module reads a real Redis store: the
// exact live count, memory, pool, and store_up falling to 0 when Redis stops.
func TestStoreCollector(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru")
	st, _ := redisstore.New(srv.Client(t), redisstore.Options{})
	now := time.Now()
	var keys []string
	for i := range 10 {
		k := fmt.Sprintf("k%07d", i)
		rec := &store.Record{Values: map[string][]byte{"v": []byte("x")}, Created: now, Touched: now,
			IdleTimeout: time.Hour, Deadline: now.Add(time.Hour)}
		if err := st.Create(t.Context(), k, rec); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, k := range keys[:3] {
		st.Destroy(t.Context(), k)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewStoreCollector(st, time.Second))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP seshat_sessions_live Live sessions in the store (exact, not sampled).
# TYPE seshat_sessions_live gauge
seshat_sessions_live 7
# HELP seshat_redis_maxmemory_bytes Redis maxmemory (0: no limit; summed over Cluster masters).
# TYPE seshat_redis_maxmemory_bytes gauge
seshat_redis_maxmemory_bytes 6.7108864e+07
# HELP seshat_redis_eviction_policy Redis maxmemory-policy, as a label; the value is 1.
# TYPE seshat_redis_eviction_policy gauge
seshat_redis_eviction_policy{policy="volatile-lru"} 1
# HELP seshat_store_up 1 when the store answered the last scrape, else 0.
# TYPE seshat_store_up gauge
seshat_store_up 1
`), "seshat_sessions_live", "seshat_redis_maxmemory_bytes", "seshat_redis_eviction_policy", "seshat_store_up"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "seshat_redis_used_memory_bytes", "seshat_store_pool_connections", "seshat_store_pool_hits_total")
	if err != nil || n != 4 {
		t.Fatalf("memory and pool metrics: %d series, %v", n, err)
	}
	srv.Stop()
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP seshat_store_up 1 when the store answered the last scrape, else 0.\n# TYPE seshat_store_up gauge\nseshat_store_up 0\n"), "seshat_store_up"); err != nil {
		t.Fatal(err)
	}
}
