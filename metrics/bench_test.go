package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/store"
)

// apps are the requests the benchmarks serve: a read and an increment of
// an existing session, and the creation of a new one.
var apps = []struct {
	name    string
	handler func(m *seshat.Manager) http.HandlerFunc
	cookie  bool
}{
	{"read", func(m *seshat.Manager) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			n, _ := seshat.Get[int](m.Session(r), "views")
			_ = n
			w.Write([]byte("ok"))
		}
	}, true},
	{"write", func(m *seshat.Manager) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			m.Session(r).Incr("views", 1)
			w.Write([]byte("ok"))
		}
	}, true},
	{"create", func(m *seshat.Manager) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			m.Session(r).Incr("views", 1)
			w.Write([]byte("ok"))
		}
	}, false},
}

// serveFunc returns a function serving app's request once through a
// manager on memstore with observer o (nil for none).
func serveFunc(b *testing.B, handler func(*seshat.Manager) http.HandlerFunc, cookie bool, o seshat.Observer) func() {
	b.Helper()
	m, err := seshat.New(seshat.Options{
		Store:    memstore.New(),
		Secrets:  [][]byte{[]byte("bench-secret-0123456789abcdef0123")},
		Observer: o,
	})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(handler(m))
	req := httptest.NewRequest("GET", "/", nil)
	if cookie {
		rec := httptest.NewRecorder()
		set := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.Session(r).Incr("views", 1) }))
		set.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 {
			b.Fatalf("cookies: %v", cookies)
		}
		req.AddCookie(cookies[0])
	}
	w := &discard{h: http.Header{}}
	return func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkRequest serves the same request through seshat's middleware on
// memstore (the cheapest store, so the observer's share is the largest)
// without an observer and with the Prometheus collector.
func BenchmarkRequest(b *testing.B) {
	for _, app := range apps {
		for _, obs := range []struct {
			name string
			new  func() seshat.Observer
		}{
			{"observer=none", func() seshat.Observer { return nil }},
			{"observer=collector", func() seshat.Observer { return metrics.New() }},
		} {
			b.Run(app.name+"/"+obs.name, func(b *testing.B) {
				loopCPU(b, serveFunc(b, app.handler, app.cookie, obs.new()))
			})
		}
	}
}

// BenchmarkObserverShare is the collector's share of a request's CPU time.
// Two separate benchmarks cannot show a difference of a few percent on a
// busy machine, so this one serves the request without and with the
// collector in alternating blocks (in turn first and second), measures
// each block's CPU time on its thread (the collector allocates nothing,
// so the garbage collector's background work would only add noise), and
// reports the medians over the pairs of blocks: the time of a request
// without and with the collector, and the difference as a percentage of
// the request without it. A pair that the garbage collector or the
// scheduler hit on one side is one outlier among hundreds, which the
// median ignores. Blocks are short and each side has several managers,
// used in turn: with blocks of 256 requests and one manager a side, two
// sides without a collector differed by up to 2.5%.
func BenchmarkObserverShare(b *testing.B) {
	const block, managers = 32, 8
	for _, app := range apps {
		b.Run(app.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var none, collector [managers]func()
			for k := range managers {
				none[k] = serveFunc(b, app.handler, app.cookie, nil)
				collector[k] = serveFunc(b, app.handler, app.cookie, metrics.New())
			}
			timed := func(serve func(), n int) time.Duration {
				t := cpuTime()
				for range n {
					serve()
				}
				return cpuTime() - t
			}
			var without, with, share []float64
			b.ReportAllocs()
			for i := 0; i < b.N; i += block {
				n, j := min(block, b.N-i), i/block
				k := j % managers
				var a, c time.Duration
				if j/managers%2 == 0 {
					a = timed(none[k], n)
					c = timed(collector[k], n)
				} else {
					c = timed(collector[k], n)
					a = timed(none[k], n)
				}
				if a <= 0 {
					continue // below the clock's resolution
				}
				without = append(without, float64(a)/float64(n))
				with = append(with, float64(c)/float64(n))
				share = append(share, 100*float64(c-a)/float64(a))
			}
			// Each op is one request of each kind; the metrics say which
			// is which.
			b.ReportMetric(median(without), "cpu-ns/req-none")
			b.ReportMetric(median(with), "cpu-ns/req-collector")
			b.ReportMetric(median(share), "%observer")
		})
	}
}

// loopCPU runs f in b.Loop on one thread and reports, besides ns/op, the
// thread's CPU time per call, which the other work of a busy machine
// inflates less.
func loopCPU(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	t := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-t)/float64(b.N), "cpu-ns/op")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// observeCases are the events a request reports, and the rarer ones.
var observeCases = []struct {
	name string
	e    seshat.Event
}{
	{"load_ok", seshat.Event{Kind: seshat.EventStoreOp, Op: "load", Duration: 3 * time.Microsecond}},
	{"commit_ok", seshat.Event{Kind: seshat.EventStoreOp, Op: "commit", Duration: 5 * time.Microsecond}},
	{"commit_error", seshat.Event{Kind: seshat.EventStoreOp, Op: "commit", Duration: time.Millisecond, Err: store.ErrUnavailable}},
	{"unknown_op", seshat.Event{Kind: seshat.EventStoreOp, Op: "custom", Duration: time.Microsecond}},
	{"created", seshat.Event{Kind: seshat.EventCreated}},
	{"destroyed", seshat.Event{Kind: seshat.EventDestroyed, Reason: store.Logout}},
	{"lifecycle", seshat.Event{Kind: seshat.EventLifecycle, Op: "expired"}},
}

// BenchmarkObserve is the collector's cost for one event of each kind.
func BenchmarkObserve(b *testing.B) {
	for _, tt := range observeCases {
		b.Run(tt.name, func(b *testing.B) {
			var o seshat.Observer = metrics.New()
			loopCPU(b, func() { o.Observe(tt.e) })
		})
	}
}

// BenchmarkObserveParallel is BenchmarkObserve from every core at once:
// a lock or a shared map on the hot path shows here.
func BenchmarkObserveParallel(b *testing.B) {
	for _, tt := range observeCases[:2] {
		b.Run(tt.name, func(b *testing.B) {
			var o seshat.Observer = metrics.New()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.Observe(tt.e)
				}
			})
		})
	}
}
