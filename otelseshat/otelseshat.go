package otelseshat

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/seshat-go/seshat"
)

// ScopeName is the instrumentation scope of the spans and instruments.
const ScopeName = "github.com/seshat-go/seshat/otelseshat"

// The attribute keys of spans and measurements.
const (
	// OperationKey names the store operation or administrative call:
	// "load", "commit", "revoke_user", ...
	OperationKey = attribute.Key("seshat.operation")
	// StoreKey names the store, as Options.Store says.
	StoreKey = attribute.Key("seshat.store")
	// ResultKey is the operation's Result: "ok", "not_found",
	// "conflict", ...
	ResultKey = attribute.Key("seshat.result")
	// RetriesKey counts the conflicts that an Update, Incr or Rekey met
	// before this attempt of its commit.
	RetriesKey = attribute.Key("seshat.retries")
	// EventKey names a session event: "created", "destroyed",
	// "conflict", "expired", ... (seshat.EventKind's names).
	EventKey = attribute.Key("seshat.event")
	// ReasonKey says why a session was destroyed: "logout", "revoked",
	// "user_cap", "corrupt".
	ReasonKey = attribute.Key("seshat.reason")
	// LifecycleKey is the kind of a lifecycle event that Manager.Listen
	// delivered: "created", "regenerated", "destroyed", "expired".
	LifecycleKey = attribute.Key("seshat.lifecycle")
)

// Options configures an Observer. The zero value reports to the global
// providers (otel.SetTracerProvider, otel.SetMeterProvider) without a
// store name.
type Options struct {
	// TracerProvider makes the spans. Default: otel.GetTracerProvider()
	// when New is called.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the instruments. Default:
	// otel.GetMeterProvider() when New is called.
	MeterProvider metric.MeterProvider
	// Store is the seshat.store attribute of every span and measurement:
	// "memory", "redis", "postgres" or a name of your own. Default: none
	// (the attribute is left out).
	Store string
}

// Observer turns a seshat.Manager's operations and events into spans and
// metrics: set it as seshat.Options.Observer. It is safe for concurrent
// use, and one Observer may serve several managers.
//
// Instruments:
//   - seshat.operation.duration (histogram, s): store operations, by
//     seshat.operation, seshat.store and seshat.result;
//   - seshat.admin.duration (histogram, s): administrative calls, by the
//     same attributes;
//   - seshat.session.events (counter): session events by seshat.event
//     (created, destroyed, regenerated, expired, conflict, corrupt,
//     rejected_cookie, lifecycle), with seshat.reason for destroyed and
//     seshat.lifecycle for lifecycle.
type Observer struct {
	tracer        trace.Tracer
	opDuration    metric.Float64Histogram
	adminDuration metric.Float64Histogram
	events        metric.Int64Counter
	store         []attribute.KeyValue // the store's attribute, if named

	// Attribute sets built once per combination (a few dozen in all) and
	// read without a lock: a map replaced, never changed, on a new one.
	mu           sync.Mutex
	measurements atomic.Pointer[map[measureKey]measurement]
	starts       atomic.Pointer[map[startKey]start]
}

var _ seshat.SpanObserver = (*Observer)(nil)

// durationBuckets are the histograms' bucket bounds in seconds, those of
// package metrics: a memstore operation takes microseconds, a Redis one
// about a millisecond, one near the store timeout seconds.
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// New returns an Observer on opts' providers. It fails only when an
// instrument cannot be created.
func New(opts Options) (*Observer, error) {
	tp, mp := opts.TracerProvider, opts.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	o := &Observer{tracer: tp.Tracer(ScopeName)}
	if opts.Store != "" {
		o.store = []attribute.KeyValue{StoreKey.String(opts.Store)}
	}
	meter := mp.Meter(ScopeName)
	var err error
	o.opDuration, err = meter.Float64Histogram("seshat.operation.duration",
		metric.WithDescription("Duration of session store operations."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("otelseshat: %w", err)
	}
	o.adminDuration, err = meter.Float64Histogram("seshat.admin.duration",
		metric.WithDescription("Duration of administrative session calls (revoke, revoke_user, user_sessions, ...)."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("otelseshat: %w", err)
	}
	o.events, err = meter.Int64Counter("seshat.session.events",
		metric.WithDescription("Session events: created, destroyed, regenerated, expired, conflict, corrupt, rejected_cookie, lifecycle."),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("otelseshat: %w", err)
	}
	return o, nil
}

// spanName is the name of an operation's span: "seshat.load",
// "seshat.admin.revoke".
func spanName(kind seshat.EventKind, op string) string {
	if kind == seshat.EventAdmin {
		return "seshat.admin." + op
	}
	return "seshat." + op
}

// Start implements seshat.SpanObserver: it starts the operation's span as
// a child of ctx's and returns the context that carries it.
func (o *Observer) Start(ctx context.Context, e seshat.Event) (context.Context, func(seshat.Event)) {
	st := o.start(startKey{e.Kind, e.Op, e.Retries})
	ctx, span := o.tracer.Start(ctx, st.name, st.opts...)
	return ctx, func(e seshat.Event) {
		result := Result(e.Err)
		span.SetAttributes(resultAttribute(result)...)
		if failed(result) {
			// The class only: an error's message may name a handle.
			span.SetStatus(codes.Error, result)
		}
		span.End()
		o.Observe(e)
	}
}

// startKey identifies the start options of a span.
type startKey struct {
	kind    seshat.EventKind
	op      string
	retries int
}

// start is a span's name, kind and attributes.
type start struct {
	name string
	opts []trace.SpanStartOption
}

// start returns a span's name and options, built once for a first attempt
// (later ones are rare: conflicts).
func (o *Observer) start(k startKey) start {
	if k.retries == 0 {
		if m := o.starts.Load(); m != nil {
			if st, ok := (*m)[k]; ok {
				return st
			}
		}
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, OperationKey.String(k.op))
	attrs = append(attrs, o.store...)
	if k.kind == seshat.EventStoreOp {
		attrs = append(attrs, RetriesKey.Int(k.retries))
	}
	st := start{spanName(k.kind, k.op), []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...)}}
	if k.retries == 0 {
		cache(&o.mu, &o.starts, k, st)
	}
	return st
}

// resultAttributes hold the seshat.result attribute of each Result, made
// once: a span's end sets one.
var resultAttributes = func() map[string][]attribute.KeyValue {
	m := map[string][]attribute.KeyValue{}
	for _, r := range []string{"ok", "not_found", "exists", "conflict", "moved", "too_large", "not_integer", "full", "corrupt", "unavailable", "canceled", "error"} {
		m[r] = []attribute.KeyValue{ResultKey.String(r)}
	}
	return m
}()

func resultAttribute(result string) []attribute.KeyValue {
	if a, ok := resultAttributes[result]; ok {
		return a
	}
	return []attribute.KeyValue{ResultKey.String(result)}
}

// cache adds k's v to the copy-on-write map at p.
func cache[K comparable, V any](mu *sync.Mutex, p *atomic.Pointer[map[K]V], k K, v V) {
	mu.Lock()
	defer mu.Unlock()
	next := map[K]V{k: v}
	if m := p.Load(); m != nil {
		for k2, v2 := range *m {
			next[k2] = v2
		}
	}
	p.Store(&next)
}

// measureKey identifies a cached set of measurement attributes.
type measureKey struct {
	kind         seshat.EventKind
	op, result   string
	reason, life string
}

// measurement is the attributes of a measurement, as the options of a
// histogram's Record and of a counter's Add.
type measurement struct {
	record []metric.RecordOption
	add    []metric.AddOption
}

// measurement returns the attributes of a measurement.
func (o *Observer) measurement(k measureKey) measurement {
	if m := o.measurements.Load(); m != nil {
		if ms, ok := (*m)[k]; ok {
			return ms
		}
	}
	attrs := append([]attribute.KeyValue(nil), o.store...)
	switch k.kind {
	case seshat.EventStoreOp, seshat.EventAdmin:
		attrs = append(attrs, OperationKey.String(k.op), ResultKey.String(k.result))
	default:
		attrs = append(attrs, EventKey.String(k.kind.String()))
		if k.reason != "" {
			attrs = append(attrs, ReasonKey.String(k.reason))
		}
		if k.life != "" {
			attrs = append(attrs, LifecycleKey.String(k.life))
		}
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	ms := measurement{[]metric.RecordOption{opt}, []metric.AddOption{opt}}
	cache(&o.mu, &o.measurements, k, ms)
	return ms
}

// Observe implements seshat.Observer: it records a store operation's or
// an administrative call's duration, or counts a session event. (A
// Manager reports operations through Start instead, whose end calls
// Observe.)
func (o *Observer) Observe(e seshat.Event) {
	ctx := context.Background()
	switch e.Kind {
	case seshat.EventStoreOp:
		o.opDuration.Record(ctx, e.Duration.Seconds(), o.measurement(measureKey{kind: e.Kind, op: e.Op, result: Result(e.Err)}).record...)
	case seshat.EventAdmin:
		o.adminDuration.Record(ctx, e.Duration.Seconds(), o.measurement(measureKey{kind: e.Kind, op: e.Op, result: Result(e.Err)}).record...)
	case seshat.EventLifecycle:
		o.events.Add(ctx, 1, o.measurement(measureKey{kind: e.Kind, life: e.Op}).add...)
	default:
		o.events.Add(ctx, 1, o.measurement(measureKey{kind: e.Kind, reason: string(e.Reason)}).add...)
	}
}
