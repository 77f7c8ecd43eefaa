package otelseshat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/otelseshat"
)

// BenchmarkRequest serves an increment of an existing session on memstore
// (the cheapest store, so the observer's share is the largest) under a
// request span: without an observer, with otelseshat on the global no-op
// providers, and with otelseshat on the SDK, every span sampled and
// measurements aggregated (no exporter: what it costs to make them).
func BenchmarkRequest(b *testing.B) {
	for _, c := range []struct {
		name string
		obs  func(tp *sdktrace.TracerProvider) seshat.Observer
	}{
		{"observer=none", func(*sdktrace.TracerProvider) seshat.Observer { return nil }},
		{"observer=otel-noop", func(*sdktrace.TracerProvider) seshat.Observer {
			o, err := otelseshat.New(otelseshat.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return o
		}},
		{"observer=otel-sdk", func(tp *sdktrace.TracerProvider) seshat.Observer {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { mp.Shutdown(context.Background()) })
			o, err := otelseshat.New(otelseshat.Options{TracerProvider: tp, MeterProvider: mp, Store: "memory"})
			if err != nil {
				b.Fatal(err)
			}
			return o
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider()
			b.Cleanup(func() { tp.Shutdown(context.Background()) })
			m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}, Observer: c.obs(tp)})
			if err != nil {
				b.Fatal(err)
			}
			app := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.Session(r).Incr("views", 1) }))
			tracer := tp.Tracer("bench")
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, span := tracer.Start(r.Context(), "GET /")
				defer span.End()
				app.ServeHTTP(w, r.WithContext(ctx))
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(rec.Result().Cookies()[0])
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
