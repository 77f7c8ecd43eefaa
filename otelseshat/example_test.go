package otelseshat_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/otelseshat"
)

// A request's session operations become spans under the request's span.
// In an application the providers are the global ones (the zero Options)
// and otelhttp.NewHandler starts the request's span.
func Example() {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	obs, err := otelseshat.New(otelseshat.Options{TracerProvider: tp, Store: "memory"})
	if err != nil {
		panic(err)
	}
	m, err := seshat.New(seshat.Options{
		Secrets:  [][]byte{[]byte("a secret of at least thirty-two bytes")},
		Observer: obs,
	})
	if err != nil {
		panic(err)
	}
	app := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := m.Session(r).Incr("views", 1)
		fmt.Fprintln(w, "Number of views:", n)
	}))
	traced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("app").Start(r.Context(), "GET /")
		defer span.End()
		app.ServeHTTP(w, r.WithContext(ctx))
	})
	traced.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	spans := recorder.Ended()
	names := map[any]string{}
	for _, s := range spans {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	for _, s := range spans {
		fmt.Printf("%s (parent %q)\n", s.Name(), names[s.Parent().SpanID()])
		for _, a := range s.Attributes() {
			fmt.Printf("  %s=%s\n", a.Key, a.Value.Emit())
		}
	}
	// Output:
	// seshat.create (parent "GET /")
	//   seshat.operation=create
	//   seshat.store=memory
	//   seshat.retries=0
	//   seshat.result=ok
	// GET / (parent "")
}
