package metrics

import (
	"maps"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets are the upper bounds, in seconds, of
// seshat_store_operation_duration_seconds.
var durationBuckets = [...]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// opStats are one store operation's results, error kinds and latency
// histogram. They are plain atomics rather than children of prometheus
// vectors: an operation costs two atomic updates (its bucket, the sum)
// where a prometheus histogram and counter take five, and Collect turns
// them into constant metrics at each scrape. The buckets are kept apart
// by result, so the counts of results and the histogram's count come from
// the same readings and agree. A series is exported once it has counted
// something, as a vector's child appears on its first use.
type opStats struct {
	sum atomic.Uint64 // float64 bits: seconds
	// buckets[r][i] counts the operations with result r (ok, error) that
	// took (durationBuckets[i-1], durationBuckets[i]]; the last, longer.
	buckets [2][len(durationBuckets) + 1]atomic.Uint64
	errs    [len(errorKinds)]atomic.Uint64

	name    string
	created time.Time // when the counters were zero, for the created timestamp
}

const (
	resultOK = iota
	resultError
)

func (s *opStats) observe(d time.Duration, err error) {
	v := d.Seconds()
	i := 0
	for i < len(durationBuckets) && v > durationBuckets[i] {
		i++
	}
	r := resultOK
	if err != nil {
		r = resultError
		s.errs[errorKind(err)].Add(1)
	}
	s.buckets[r][i].Add(1)
	for {
		old := s.sum.Load()
		if s.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// collect sends s's series that have counted something. Each bucket is
// read once and every count is made from those readings, so a scrape's
// histogram and results agree while operations go on.
func (s *opStats) collect(c *Collector, ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, n uint64, labels ...string) {
		if n > 0 {
			ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(d, prometheus.CounterValue, float64(n), s.created, labels...)
		}
	}
	var results [2]uint64
	cumulative := make(map[float64]uint64, len(durationBuckets))
	for i := range len(durationBuckets) + 1 {
		for r := range results {
			results[r] += s.buckets[r][i].Load()
		}
		if i < len(durationBuckets) {
			cumulative[durationBuckets[i]] = results[resultOK] + results[resultError]
		}
	}
	counter(c.ops, results[resultOK], s.name, "ok")
	counter(c.ops, results[resultError], s.name, "error")
	for k := range s.errs {
		counter(c.errs, s.errs[k].Load(), s.name, errorKinds[k])
	}
	if count := results[resultOK] + results[resultError]; count > 0 {
		sum := math.Float64frombits(s.sum.Load())
		ch <- prometheus.MustNewConstHistogramWithCreatedTimestamp(c.duration, count, sum, cumulative, s.created, s.name)
	}
}

// otherOps holds the stats of operations missing from opNames (a newer
// seshat's, or a wrapper's), found without a lock: the map is replaced,
// never changed, when an operation is added.
type otherOps struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*opStats]
}

func (o *otherOps) get(op string) *opStats {
	if m := o.m.Load(); m != nil {
		if s, ok := (*m)[op]; ok {
			return s
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	next := map[string]*opStats{}
	if m := o.m.Load(); m != nil {
		if s, ok := (*m)[op]; ok {
			return s
		}
		maps.Copy(next, *m)
	}
	op = strings.Clone(op) // the map outlives the caller's string
	s := &opStats{name: op, created: time.Now()}
	next[op] = s
	o.m.Store(&next)
	return s
}

func (o *otherOps) all() map[string]*opStats {
	if m := o.m.Load(); m != nil {
		return *m
	}
	return nil
}
