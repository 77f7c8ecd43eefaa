package metrics_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
