// Package metrics exposes a seshat Manager's activity to Prometheus.
//
//	col := metrics.New()
//	prometheus.MustRegister(col)
//	m, err := seshat.New(seshat.Options{Observer: col, ...})
//
// The root seshat package knows nothing of Prometheus: it reports events to
// an Observer, and Collector is one.
package metrics

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

// Collector counts session events and times store operations. It
// implements seshat.Observer and prometheus.Collector.
//
// Observe runs on every request, so its path takes no lock and allocates
// nothing: a store operation's counters and latency histogram are atomic
// counters, turned into metrics at each scrape, and the event counters
// are resolved from their vectors once rather than by WithLabelValues (a
// hash of the labels and a read lock) on each event.
type Collector struct {
	events    *prometheus.CounterVec
	lifecycle *prometheus.CounterVec
	destroyed *prometheus.CounterVec

	ops, errs, duration *prometheus.Desc

	byKind      [8]prometheus.Counter // events, indexed by seshat.EventKind
	byReason    [len(reasons)]prometheus.Counter
	byLifecycle [len(lifecycleKinds)]lazyCounter
	byOp        [len(opNames)]opStats
	otherOps    otherOps
}

// The label values Collector resolves in advance. Another store
// operation, reason or lifecycle kind is counted all the same, on a slower
// path.
var (
	opNames        = [...]string{"load", "create", "commit", "incr", "update", "destroy", "take", "user_sessions", "publish"}
	reasons        = [...]store.Reason{store.Logout, store.Revoked, store.UserCap, store.Corrupt}
	lifecycleKinds = [...]store.Kind{store.Created, store.Regenerated, store.Destroyed, store.Expired}
	errorKinds     = [...]string{"unavailable", "not_found", "conflict", "too_large", "not_integer", "corrupt", "other"}
)

var _ seshat.Observer = (*Collector)(nil)

// New returns a Collector; register it with a prometheus.Registerer.
func New() *Collector {
	c := &Collector{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_session_events_total",
			Help: "Session events: created, destroyed, regenerated, expired (found gone on load), conflict (an Update retried), corrupt (undecodable data), rejected_cookie (bad signature).",
		}, []string{"event"}),
		lifecycle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_lifecycle_events_total",
			Help: "Lifecycle events delivered by Manager.Listen, by kind (created, regenerated, destroyed, expired).",
		}, []string{"kind"}),
		destroyed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_sessions_destroyed_total",
			Help: "Sessions destroyed by this instance, by reason (logout, revoked, user_cap, corrupt).",
		}, []string{"reason"}),
		ops: prometheus.NewDesc("seshat_store_operations_total",
			"Store operations by operation (load, create, commit, incr, update, destroy, take, user_sessions) and result (ok, error).",
			[]string{"op", "result"}, nil),
		errs: prometheus.NewDesc("seshat_store_errors_total",
			"Failed store operations by operation and kind (unavailable, not_found, conflict, too_large, not_integer, corrupt, other).",
			[]string{"op", "kind"}, nil),
		duration: prometheus.NewDesc("seshat_store_operation_duration_seconds",
			"Latency of store operations by operation.",
			[]string{"op"}, nil),
	}
	for k := seshat.EventCreated; k <= seshat.EventRejectedCookie; k++ {
		c.byKind[k] = c.events.WithLabelValues(k.String())
	}
	for i, r := range reasons {
		c.byReason[i] = c.destroyed.WithLabelValues(string(r))
	}
	now := time.Now()
	for i, name := range opNames {
		c.byOp[i].name, c.byOp[i].created = name, now
	}
	return c
}

// Observe implements seshat.Observer.
func (c *Collector) Observe(e seshat.Event) {
	switch e.Kind {
	case seshat.EventStoreOp:
		if i := opIndex(e.Op); i >= 0 {
			c.byOp[i].observe(e.Duration, e.Err)
		} else {
			c.otherOps.get(e.Op).observe(e.Duration, e.Err)
		}
		return
	case seshat.EventLifecycle:
		if i := index(lifecycleKinds[:], store.Kind(e.Op)); i >= 0 {
			c.byLifecycle[i].get(c.lifecycle, e.Op).Inc()
		} else {
			c.lifecycle.WithLabelValues(e.Op).Inc()
		}
		return
	case seshat.EventDestroyed:
		if i := index(reasons[:], e.Reason); i >= 0 {
			c.byReason[i].Inc()
		} else if e.Reason != "" {
			c.destroyed.WithLabelValues(string(e.Reason)).Inc()
		}
	}
	if int(e.Kind) < len(c.byKind) && c.byKind[e.Kind] != nil {
		c.byKind[e.Kind].Inc()
	}
}

// opIndex is op's place in opNames, or -1. A switch compares the length
// and then a few bytes, cheaper than hashing the name for a map.
func opIndex(op string) int {
	switch op {
	case "load":
		return 0
	case "create":
		return 1
	case "commit":
		return 2
	case "incr":
		return 3
	case "update":
		return 4
	case "destroy":
		return 5
	case "take":
		return 6
	case "user_sessions":
		return 7
	case "publish":
		return 8
	}
	return -1
}

func index[T comparable](list []T, v T) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// Kind classifies a store error for the "kind" label.
func Kind(err error) string {
	return errorKinds[errorKind(err)]
}

// errorKind is err's place in errorKinds.
func errorKind(err error) int {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return 0
	case errors.Is(err, store.ErrNotFound):
		return 1
	case errors.Is(err, store.ErrConflict):
		return 2
	case errors.Is(err, store.ErrTooLarge):
		return 3
	case errors.Is(err, store.ErrNotInteger):
		return 4
	case errors.Is(err, store.ErrCorrupt):
		return 5
	}
	return 6
}

// lazyCounter is a child of a CounterVec, created by WithLabelValues on its
// first use (so the exposition lists only the series that happened) and
// then read with one atomic load. Two first uses at once get the same
// child from the vector, so either may store it.
type lazyCounter struct {
	p atomic.Pointer[prometheus.Counter]
}

func (l *lazyCounter) get(vec *prometheus.CounterVec, label string) prometheus.Counter {
	if p := l.p.Load(); p != nil {
		return *p
	}
	m := vec.WithLabelValues(label)
	l.p.Store(&m)
	return m
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.events.Describe(ch)
	c.lifecycle.Describe(ch)
	c.destroyed.Describe(ch)
	ch <- c.ops
	ch <- c.errs
	ch <- c.duration
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.events.Collect(ch)
	c.lifecycle.Collect(ch)
	c.destroyed.Collect(ch)
	for i := range c.byOp {
		c.byOp[i].collect(c, ch)
	}
	for _, s := range c.otherOps.all() {
		s.collect(c, ch)
	}
}
