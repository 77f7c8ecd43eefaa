package metrics_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
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

// Every path that destroys a session is counted, by reason: a logout, a
// revocation, a user's cap, corrupt data replaced by a fresh session.
func TestDestroysFromEveryPathAreCounted(t *testing.T) {
	c := metrics.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	st := memstore.New()
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("metrics-test-secret-0123456789abcdef")}, Observer: c,
		MaxSessionsPerUser: 1, OnCorrupt: func(seshat.Corruption) seshat.CorruptAction { return seshat.FreshSession },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(cookie string, fn func(s *seshat.Session)) string {
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fn(m.Session(r)) }))
		req := httptest.NewRequest("POST", "/", nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "seshat", Value: cookie})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		for _, ck := range rec.Result().Cookies() {
			if ck.Name == "seshat" {
				return ck.Value
			}
		}
		return cookie
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	login := func(user string) string {
		return serve("", func(s *seshat.Session) { must(s.Regenerate()); must(s.SetUser(user)) })
	}
	// logout
	serve(login("ann"), func(s *seshat.Session) { must(s.Destroy()) })
	// revoked
	k, _ := m.HandleOf(login("bob"))
	must(m.Revoke(t.Context(), k))
	// user_cap: a second session of cid's ends the first
	login("cid")
	login("cid")
	// corrupt
	c4 := serve("", func(s *seshat.Session) { must(s.Set("n", 1)) })
	k4, _ := m.HandleOf(c4)
	if _, err := st.Commit(t.Context(), k4, &store.Delta{Now: time.Now(), Set: map[string][]byte{"n": []byte("not a number")}}); err != nil {
		t.Fatal(err)
	}
	serve(c4, func(s *seshat.Session) {
		if _, err := s.Incr("n", 1); err != nil {
			t.Fatal(err)
		}
	})
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP seshat_sessions_destroyed_total Sessions destroyed by this instance, by reason (logout, revoked, user_cap, corrupt).
# TYPE seshat_sessions_destroyed_total counter
seshat_sessions_destroyed_total{reason="corrupt"} 1
seshat_sessions_destroyed_total{reason="logout"} 1
seshat_sessions_destroyed_total{reason="revoked"} 1
seshat_sessions_destroyed_total{reason="user_cap"} 1
`), "seshat_sessions_destroyed_total")
	if err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	destroyed := -1.0
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			if f.GetName() == "seshat_session_events_total" && mt.GetLabel()[0].GetValue() == "destroyed" {
				destroyed = mt.GetCounter().GetValue()
			}
		}
	}
	if destroyed != 4 {
		t.Fatalf("seshat_session_events_total{event=destroyed} = %v; want 4", destroyed)
	}
}

// An operation the collector does not know in advance is counted like the
// others, and a duration on a bucket's bound falls in that bucket, as in a
// prometheus histogram.
func TestCollectorOtherOperation(t *testing.T) {
	c := metrics.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	c.Observe(seshat.Event{Kind: seshat.EventStoreOp, Op: "custom", Duration: 250 * time.Microsecond})
	c.Observe(seshat.Event{Kind: seshat.EventStoreOp, Op: "custom", Duration: 3 * time.Second,
		Err: fmt.Errorf("wrapped: %w", store.ErrConflict)})
	c.Observe(seshat.Event{Kind: seshat.EventStoreOp, Op: "load", Duration: 250001 * time.Nanosecond})
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP seshat_store_errors_total Failed store operations by operation and kind (unavailable, not_found, conflict, too_large, not_integer, corrupt, other).
# TYPE seshat_store_errors_total counter
seshat_store_errors_total{kind="conflict",op="custom"} 1
# HELP seshat_store_operation_duration_seconds Latency of store operations by operation.
# TYPE seshat_store_operation_duration_seconds histogram
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.0001"} 0
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.00025"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.0005"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.001"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.0025"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.005"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.01"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.025"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.05"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.1"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.25"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="0.5"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="1"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="2.5"} 1
seshat_store_operation_duration_seconds_bucket{op="custom",le="+Inf"} 2
seshat_store_operation_duration_seconds_sum{op="custom"} 3.00025
seshat_store_operation_duration_seconds_count{op="custom"} 2
seshat_store_operation_duration_seconds_bucket{op="load",le="0.0001"} 0
seshat_store_operation_duration_seconds_bucket{op="load",le="0.00025"} 0
seshat_store_operation_duration_seconds_bucket{op="load",le="0.0005"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.001"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.0025"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.005"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.01"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.025"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.05"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.1"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.25"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="0.5"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="1"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="2.5"} 1
seshat_store_operation_duration_seconds_bucket{op="load",le="+Inf"} 1
seshat_store_operation_duration_seconds_sum{op="load"} 0.000250001
seshat_store_operation_duration_seconds_count{op="load"} 1
# HELP seshat_store_operations_total Store operations by operation (load, create, commit, incr, update, destroy, take, user_sessions) and result (ok, error).
# TYPE seshat_store_operations_total counter
seshat_store_operations_total{op="custom",result="error"} 1
seshat_store_operations_total{op="custom",result="ok"} 1
seshat_store_operations_total{op="load",result="ok"} 1
`), "seshat_store_errors_total", "seshat_store_operation_duration_seconds", "seshat_store_operations_total")
	if err != nil {
		t.Fatal(err)
	}
}

// Scrapes while requests are observed see counts that only grow and a
// histogram whose count is its results' sum.
func TestCollectorScrapedWhileObserving(t *testing.T) {
	c := metrics.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	const workers, each = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var err error
				if i%10 == 0 {
					err = store.ErrUnavailable
				}
				c.Observe(seshat.Event{Kind: seshat.EventStoreOp, Op: []string{"load", "other"}[w%2], Duration: time.Duration(i) * time.Microsecond, Err: err})
			}
		})
	}
	total := func() (ops, count float64) {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				switch f.GetName() {
				case "seshat_store_operations_total":
					ops += m.GetCounter().GetValue()
				case "seshat_store_operation_duration_seconds":
					count += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return ops, count
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last := 0.0
	for scraping := true; scraping; {
		select {
		case <-done:
			scraping = false
		default:
		}
		ops, count := total()
		if ops != count {
			t.Fatalf("a scrape counts %v operations and %v durations; want equal", ops, count)
		}
		if ops < last {
			t.Fatalf("operations went from %v to %v", last, ops)
		}
		last = ops
	}
	if last != workers*each {
		t.Fatalf("%v operations counted; want %d", last, workers*each)
	}
}

// TestObserveAllocations: observing an event allocates nothing, whatever
// its kind, once its label values have been seen (the first
// event of an unknown operation creates its series).
func TestObserveAllocations(t *testing.T) {
	if raceEnabled {
		t.Log("allocation counts are not meaningful under the race detector; run without -race")
		return
	}
	c := metrics.New()
	for _, tt := range observeCases {
		c.Observe(tt.e)
		if n := testing.AllocsPerRun(100, func() { c.Observe(tt.e) }); n != 0 {
			t.Errorf("%s: %v allocations per event; want 0", tt.name, n)
		}
	}
}
