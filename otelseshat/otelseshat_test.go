package otelseshat_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/otelseshat"
	"github.com/seshat-go/seshat/store"
)

// telemetry is a real SDK pipeline that keeps everything in memory.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		tel.tp.Shutdown(context.Background())
		tel.mp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) metrics(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// secrets are what must never appear in telemetry: the session IDs, the
// cookies, the handles, the user, the values.
type secrets []string

func (s *secrets) add(v ...string) {
	for _, x := range v {
		if x != "" && !slices.Contains(*s, x) {
			*s = append(*s, x)
		}
	}
}

// addCookie adds a cookie value, the session ID it carries, and the handle
// it names.
func (s *secrets) addCookie(m *seshat.Manager, value string) {
	id, _, _ := strings.Cut(value, ".")
	handle, _ := m.HandleOf(value)
	s.add(value, id, handle)
}

// leaks returns where any secret, or any 12 consecutive characters of one,
// occurs in the strings of what.
func (s secrets) leaks(what string, texts ...string) []string {
	var found []string
	for _, text := range texts {
		for _, secret := range s {
			for i := 0; i+12 <= len(secret) || i == 0; i++ {
				part := secret[i:min(i+12, len(secret))]
				if strings.Contains(text, part) {
					found = append(found, fmt.Sprintf("%s holds %q (of the secret %q)", what, text, secret))
					break
				}
			}
		}
	}
	return found
}

// spanLeaks scans every span's name, attributes, events, links and status.
func (s secrets) spanLeaks(spans []sdktrace.ReadOnlySpan) []string {
	var found []string
	attrs := func(kv []attribute.KeyValue) []string {
		var out []string
		for _, a := range kv {
			out = append(out, string(a.Key)+"="+a.Value.Emit())
		}
		return out
	}
	for _, sp := range spans {
		where := "span " + sp.Name()
		found = append(found, s.leaks(where, sp.Name(), sp.Status().Description)...)
		found = append(found, s.leaks(where+" attribute", attrs(sp.Attributes())...)...)
		for _, ev := range sp.Events() {
			found = append(found, s.leaks(where+" event "+ev.Name, append(attrs(ev.Attributes), ev.Name)...)...)
		}
		for _, l := range sp.Links() {
			found = append(found, s.leaks(where+" link", attrs(l.Attributes)...)...)
		}
	}
	return found
}

// metricLeaks scans every data point's attributes.
func (s secrets) metricLeaks(rm metricdata.ResourceMetrics) []string {
	var found []string
	scan := func(name string, set attribute.Set) {
		for _, a := range set.ToSlice() {
			found = append(found, s.leaks("metric "+name, string(a.Key)+"="+a.Value.Emit())...)
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					scan(m.Name, p.Attributes)
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					scan(m.Name, p.Attributes)
				}
			}
		}
	}
	return found
}

// The scan must be able to fail: a span that carries a handle is caught.
func TestScanFindsLeaks(t *testing.T) {
	tel := newTelemetry(t)
	_, sp := tel.tp.Tracer("test").Start(context.Background(), "leaky")
	sp.SetAttributes(attribute.String("db.statement", "EVALSHA abc 1 seshat:0123456789abcdef0123"))
	sp.End()
	s := secrets{"x0123456789abcdef0123456789"}
	if leaks := s.spanLeaks(tel.spans.Ended()); len(leaks) != 1 {
		t.Fatalf("the scan found %v; want the handle in db.statement", leaks)
	}
}

const (
	testUser = "ann.the.user@example.org"
	testNote = "note-value-that-is-secret"
)

// run serves, through a manager on st observed by an Observer on tel, the
// session operations of an application and an administrator's calls, each
// request under a server span as otelhttp would start it and the calls
// under a job's span, and returns what must not leak.
func run(t *testing.T, tel *telemetry, st store.Store, storeName string) secrets {
	t.Helper()
	obs, err := otelseshat.New(otelseshat.Options{TracerProvider: tel.tp, MeterProvider: tel.mp, Store: storeName})
	if err != nil {
		t.Fatal(err)
	}
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	var sec secrets
	sec.add(testUser, testNote, "updated-"+testNote, "edited-"+testNote)
	app := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		ctx := r.Context()
		var err error
		switch r.URL.Path {
		case "/":
			_, err = s.Incr("views", 1)
		case "/login":
			if err = s.Regenerate(); err == nil {
				if err = s.SetUser(testUser); err == nil {
					err = s.Set("note", testNote)
				}
			}
		case "/note":
			_, err = seshat.Get[string](s, "note")
		case "/update":
			// Another request changes the note while this one updates
			// it: the update's commit conflicts once, then succeeds.
			handle, first := s.Handle(), true
			_, err = seshat.Update(s, "note", func(v string) (string, error) {
				if first {
					first = false
					if err := m.Edit(ctx, handle, func(o *seshat.Session) error { return o.Set("note", "edited-"+testNote) }); err != nil {
						return "", err
					}
				}
				return "updated-" + testNote, nil
			})
		case "/logout":
			err = s.Destroy()
		}
		if err != nil {
			http.Error(w, err.Error(), seshat.StatusCode(err))
		}
	}))
	tracer := tel.tp.Tracer("test")
	traced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "HTTP "+r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		app.ServeHTTP(w, r.WithContext(ctx))
	})
	serve := func(method, path, cookie string) string {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "seshat", Value: cookie})
		}
		rec := httptest.NewRecorder()
		traced.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		for _, c := range rec.Result().Cookies() {
			if c.Value != "" {
				sec.addCookie(m, c.Value)
				return c.Value
			}
		}
		return cookie
	}

	c := serve("GET", "/", "")           // create
	c = serve("GET", "/", c)             // incr
	c = serve("POST", "/login", c)       // load, take, create
	serve("GET", "/note", c)             // load
	serve("POST", "/update", c)          // load, update (conflict), update
	other := serve("POST", "/login", "") // a second device
	serve("POST", "/logout", other)      // destroy

	ctx, job := tracer.Start(context.Background(), "admin job")
	handle, _ := m.HandleOf(c)
	if _, err := m.Inspect(ctx, handle); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UserSessions(ctx, testUser); err != nil {
		t.Fatal(err)
	}
	if n, err := m.RevokeUser(ctx, testUser); err != nil || n != 1 {
		t.Fatalf("RevokeUser: %d, %v", n, err)
	}
	if err := m.Revoke(ctx, handle); err != nil {
		t.Fatal(err)
	}
	job.End()
	return sec
}

// checkSpans checks that every seshat span is a child of a request's span,
// of the job's, or of an administrative call's, in the same trace, with
// its operation, store and result, and that updates count their retries.
func checkSpans(t *testing.T, spans []sdktrace.ReadOnlySpan, storeName string) map[trace.SpanID]sdktrace.ReadOnlySpan {
	t.Helper()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byID[sp.SpanContext().SpanID()] = sp
	}
	names := map[string]int{}
	var updates []string
	for _, sp := range spans {
		name := sp.Name()
		if !strings.HasPrefix(name, "seshat.") {
			continue
		}
		names[name]++
		parent, ok := byID[sp.Parent().SpanID()]
		switch {
		case !ok:
			t.Errorf("%s has no recorded parent: it is not a child of the request's span", name)
			continue
		case parent.SpanContext().TraceID() != sp.SpanContext().TraceID():
			t.Errorf("%s is in another trace than its parent %s", name, parent.Name())
		}
		admin := strings.HasPrefix(name, "seshat.admin.")
		switch p := parent.Name(); {
		case strings.HasPrefix(p, "HTTP "), p == "admin job":
		case strings.HasPrefix(p, "seshat.admin.") && !admin:
		default:
			t.Errorf("%s is a child of %s; want a request's span, the job's or an administrative call's", name, p)
		}
		attrs := attribute.NewSet(sp.Attributes()...)
		op, _ := attrs.Value(otelseshat.OperationKey)
		st, _ := attrs.Value(otelseshat.StoreKey)
		result, _ := attrs.Value(otelseshat.ResultKey)
		if want := name[strings.LastIndexByte(name, '.')+1:]; op.AsString() != want || st.AsString() != storeName || result.AsString() == "" {
			t.Errorf("%s: operation %q, store %q, result %q; want %q, %q and a result", name, op.AsString(), st.AsString(), result.AsString(), want, storeName)
		}
		if name == "seshat.update" {
			retries, _ := attrs.Value(otelseshat.RetriesKey)
			updates = append(updates, fmt.Sprintf("%d:%s", retries.AsInt64(), result.AsString()))
		}
	}
	for _, want := range []string{"seshat.create", "seshat.incr", "seshat.load", "seshat.take", "seshat.update",
		"seshat.destroy", "seshat.user_sessions", "seshat.admin.inspect", "seshat.admin.user_sessions",
		"seshat.admin.revoke_user", "seshat.admin.revoke", "seshat.admin.edit"} {
		if names[want] == 0 {
			t.Errorf("no %s span; spans: %v", want, names)
		}
	}
	if slices.Sort(updates); fmt.Sprint(updates) != "[0:conflict 1:ok]" {
		t.Errorf("update spans (retries:result) %v; want [0:conflict 1:ok]", updates)
	}
	return byID
}

// point finds the data point of the named instrument whose attributes hold
// every pair in want.
func point(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (count uint64, ok bool) {
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						count += p.Count
						ok = true
					}
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						count += uint64(p.Value)
						ok = true
					}
				}
			}
		}
	}
	return count, ok
}

func checkMetrics(t *testing.T, rm metricdata.ResourceMetrics, storeName string) {
	t.Helper()
	st := otelseshat.StoreKey.String(storeName)
	for _, c := range []struct {
		instrument string
		attrs      []attribute.KeyValue
		atLeast    uint64
	}{
		{"seshat.operation.duration", []attribute.KeyValue{st, otelseshat.OperationKey.String("incr"), otelseshat.ResultKey.String("ok")}, 1},
		{"seshat.operation.duration", []attribute.KeyValue{st, otelseshat.OperationKey.String("update"), otelseshat.ResultKey.String("conflict")}, 1},
		{"seshat.operation.duration", []attribute.KeyValue{st, otelseshat.OperationKey.String("create"), otelseshat.ResultKey.String("ok")}, 3},
		{"seshat.admin.duration", []attribute.KeyValue{st, otelseshat.OperationKey.String("revoke_user"), otelseshat.ResultKey.String("ok")}, 1},
		{"seshat.session.events", []attribute.KeyValue{st, otelseshat.EventKey.String("created")}, 3},
		{"seshat.session.events", []attribute.KeyValue{st, otelseshat.EventKey.String("conflict")}, 1},
		{"seshat.session.events", []attribute.KeyValue{st, otelseshat.EventKey.String("destroyed"), otelseshat.ReasonKey.String("logout")}, 1},
		{"seshat.session.events", []attribute.KeyValue{st, otelseshat.EventKey.String("destroyed"), otelseshat.ReasonKey.String("revoked")}, 1},
	} {
		if n, _ := point(rm, c.instrument, c.attrs...); n < c.atLeast {
			t.Errorf("%s %v: %d; want at least %d", c.instrument, c.attrs, n, c.atLeast)
		}
	}
}

func TestMemstore(t *testing.T) {
	tel := newTelemetry(t)
	sec := run(t, tel, memstore.New(), "memory")
	spans := tel.spans.Ended()
	checkSpans(t, spans, "memory")
	rm := tel.metrics(t)
	checkMetrics(t, rm, "memory")
	for _, leak := range append(sec.spanLeaks(spans), sec.metricLeaks(rm)...) {
		t.Error(leak)
	}
	if len(sec) < 10 {
		t.Fatalf("only %d secrets to look for: %v", len(sec), sec)
	}
}
