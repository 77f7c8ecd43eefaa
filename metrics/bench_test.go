package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/store"
)

// BenchmarkRequest serves the same request through seshat's middleware on
// memstore (the cheapest store, so the observer's share is the largest)
// without an observer and with the Prometheus collector; the difference
// between the two is what observing costs a request.
func BenchmarkRequest(b *testing.B) {
	for _, app := range []struct {
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
	} {
		for _, obs := range []struct {
			name string
			new  func() seshat.Observer
		}{
			{"observer=none", func() seshat.Observer { return nil }},
			{"observer=collector", func() seshat.Observer { return metrics.New() }},
		} {
			b.Run(app.name+"/"+obs.name, func(b *testing.B) {
				m, err := seshat.New(seshat.Options{
					Store:    memstore.New(),
					Secrets:  [][]byte{[]byte("bench-secret-0123456789abcdef0123")},
					Observer: obs.new(),
				})
				if err != nil {
					b.Fatal(err)
				}
				h := m.Handler(app.handler(m))
				req := httptest.NewRequest("GET", "/", nil)
				if app.cookie {
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
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					h.ServeHTTP(w, req)
				}
			})
		}
	}
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
			b.ReportAllocs()
			for b.Loop() {
				o.Observe(tt.e)
			}
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
