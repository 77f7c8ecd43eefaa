package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seshat-go/seshat/store"
)

// StoreCollector exports a store's own figures, read at each scrape: live
// sessions (an exact count), memory used and allowed, evictions, the
// eviction policy, and the client's connection pool.
type StoreCollector struct {
	src     store.StatsReporter
	timeout time.Duration
	logger  *slog.Logger

	sessions, used, max, policy, conns, up *prometheus.Desc
	foreign, disk                          *prometheus.Desc
	evicted, hits, misses, timeouts        *prometheus.Desc
}

// NewStoreCollector returns a collector reading src at most timeout per
// scrape (0 means one second).
func NewStoreCollector(src store.StatsReporter, timeout time.Duration) *StoreCollector {
	if timeout <= 0 {
		timeout = time.Second
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &StoreCollector{
		src: src, timeout: timeout, logger: slog.Default(),
		up:       d("seshat_store_up", "1 when the store answered the last scrape, else 0."),
		sessions: d("seshat_sessions_live", "Live sessions in the store (exact, not sampled)."),
		used:     d("seshat_redis_used_memory_bytes", "Memory Redis uses (summed over Cluster masters)."),
		max:      d("seshat_redis_maxmemory_bytes", "Redis maxmemory (0: no limit; summed over Cluster masters)."),
		policy:   d("seshat_redis_eviction_policy", "Redis maxmemory-policy, as a label; the value is 1.", "policy"),
		evicted:  d("seshat_redis_evicted_keys_total", "Keys Redis evicted for memory since it started."),
		hits:     d("seshat_store_pool_hits_total", "Connection pool hits: a free connection was found."),
		misses:   d("seshat_store_pool_misses_total", "Connection pool misses: a new connection was made."),
		timeouts: d("seshat_store_pool_timeouts_total", "Waits for a free pool connection that timed out."),
		conns:    d("seshat_store_pool_connections", "Connections in the pool, by state.", "state"),
		disk:     d("seshat_store_disk_bytes", "Bytes the store's tables and indexes take on disk (a database store)."),
		foreign:  d("seshat_store_foreign_keys", "Keys of the store's bookkeeping that hold something seshat did not write (seshat stats names them)."),
	}
}

// Describe implements prometheus.Collector.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.sessions, c.used, c.max, c.policy, c.evicted, c.hits, c.misses, c.timeouts, c.conns, c.disk, c.foreign} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.src.Stats(ctx, time.Now())
	if err != nil {
		c.logger.Warn("seshat: store stats unavailable", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(c.foreign, prometheus.GaugeValue, float64(len(st.ForeignKeys)))
	if st.EvictionPolicy != "" { // a Redis store
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(st.UsedMemory))
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.MaxMemory))
		ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(st.EvictedKeys))
		ch <- prometheus.MustNewConstMetric(c.policy, prometheus.GaugeValue, 1, st.EvictionPolicy)
	}
	if st.DiskBytes > 0 {
		ch <- prometheus.MustNewConstMetric(c.disk, prometheus.GaugeValue, float64(st.DiskBytes))
	}
	if p := st.Pool; p != nil {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(p.Hits))
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(p.Misses))
		ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(p.Timeouts))
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(p.TotalConns), "total")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(p.IdleConns), "idle")
	}
}
