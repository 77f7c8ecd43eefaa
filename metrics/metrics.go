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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

// Collector counts session events and times store operations. It
// implements seshat.Observer and prometheus.Collector.
type Collector struct {
	events    *prometheus.CounterVec
	lifecycle *prometheus.CounterVec
	destroyed *prometheus.CounterVec
	ops       *prometheus.CounterVec
	errs      *prometheus.CounterVec
	duration  *prometheus.HistogramVec

	byKind [8]prometheus.Counter // events, indexed by seshat.EventKind
}

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
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_store_operations_total",
			Help: "Store operations by operation (load, create, commit, incr, update, destroy, take, user_sessions) and result (ok, error).",
		}, []string{"op", "result"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seshat_store_errors_total",
			Help: "Failed store operations by operation and kind (unavailable, not_found, conflict, too_large, not_integer, corrupt, other).",
		}, []string{"op", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seshat_store_operation_duration_seconds",
			Help:    "Latency of store operations by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
	}
	for k := seshat.EventCreated; k <= seshat.EventRejectedCookie; k++ {
		c.byKind[k] = c.events.WithLabelValues(k.String())
	}
	for _, r := range []store.Reason{store.Logout, store.Revoked, store.UserCap, store.Corrupt} {
		c.destroyed.WithLabelValues(string(r))
	}
	return c
}

// Observe implements seshat.Observer.
func (c *Collector) Observe(e seshat.Event) {
	if e.Kind == seshat.EventLifecycle {
		c.lifecycle.WithLabelValues(e.Op).Inc()
		return
	}
	if e.Kind == seshat.EventDestroyed && e.Reason != "" {
		c.destroyed.WithLabelValues(string(e.Reason)).Inc()
	}
	if e.Kind != seshat.EventStoreOp {
		if int(e.Kind) < len(c.byKind) && c.byKind[e.Kind] != nil {
			c.byKind[e.Kind].Inc()
		}
		return
	}
	c.duration.WithLabelValues(e.Op).Observe(e.Duration.Seconds())
	if e.Err == nil {
		c.ops.WithLabelValues(e.Op, "ok").Inc()
		return
	}
	c.ops.WithLabelValues(e.Op, "error").Inc()
	c.errs.WithLabelValues(e.Op, Kind(e.Err)).Inc()
}

// Kind classifies a store error for the "kind" label.
func Kind(err error) string {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, store.ErrNotFound):
		return "not_found"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	case errors.Is(err, store.ErrTooLarge):
		return "too_large"
	case errors.Is(err, store.ErrNotInteger):
		return "not_integer"
	case errors.Is(err, store.ErrCorrupt):
		return "corrupt"
	}
	return "other"
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.events.Describe(ch)
	c.lifecycle.Describe(ch)
	c.destroyed.Describe(ch)
	c.ops.Describe(ch)
	c.errs.Describe(ch)
	c.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.events.Collect(ch)
	c.lifecycle.Collect(ch)
	c.destroyed.Collect(ch)
	c.ops.Collect(ch)
	c.errs.Collect(ch)
	c.duration.Collect(ch)
}
