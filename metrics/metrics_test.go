package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/store"
)

func TestCollector(t *testing.T) {
	c := metrics.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	c.Observe(seshat.Event{Kind: seshat.EventCreated})
	c.Observe(seshat.Event{Kind: seshat.EventCreated})
	c.Observe(seshat.Event{Kind: seshat.EventLifecycle, Op: "expired"})
	c.Observe(seshat.Event{Kind: seshat.EventStoreOp, Op: "load", Duration: 2 * time.Millisecond})
	c.Observe(seshat.Event{Kind: seshat.EventStoreOp, Op: "commit", Duration: time.Millisecond,
		Err: errors.Join(errors.New("x"), store.ErrUnavailable)})
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP seshat_lifecycle_events_total Lifecycle events delivered by Manager.Listen, by kind (created, regenerated, destroyed, expired).
# TYPE seshat_lifecycle_events_total counter
seshat_lifecycle_events_total{kind="expired"} 1
# HELP seshat_session_events_total Session events: created, destroyed, regenerated, expired (found gone on load), conflict (an Update retried), corrupt (undecodable data), rejected_cookie (bad signature).
# TYPE seshat_session_events_total counter
seshat_session_events_total{event="conflict"} 0
seshat_session_events_total{event="corrupt"} 0
seshat_session_events_total{event="created"} 2
seshat_session_events_total{event="destroyed"} 0
seshat_session_events_total{event="expired"} 0
seshat_session_events_total{event="regenerated"} 0
seshat_session_events_total{event="rejected_cookie"} 0
# HELP seshat_store_errors_total Failed store operations by operation and kind (unavailable, not_found, conflict, too_large, not_integer, corrupt, other).
# TYPE seshat_store_errors_total counter
seshat_store_errors_total{kind="unavailable",op="commit"} 1
# HELP seshat_store_operations_total Store operations by operation (load, create, commit, incr, update, destroy, take, user_sessions) and result (ok, error).
# TYPE seshat_store_operations_total counter
seshat_store_operations_total{op="commit",result="error"} 1
seshat_store_operations_total{op="load",result="ok"} 1
`), "seshat_lifecycle_events_total", "seshat_session_events_total", "seshat_store_errors_total", "seshat_store_operations_total")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := testutil.GatherAndCount(reg, "seshat_store_operation_duration_seconds"); n != 2 {
		t.Fatalf("%d latency histograms; want one per operation (2)", n)
	}
}
