package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/seshat-go/seshat/otelseshat"
)

// tracing is the demo's OpenTelemetry tracing, configured by the standard
// environment: OTEL_TRACES_EXPORTER ("otlp", "console", "none"),
// OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_EXPORTER_OTLP_*
// variables, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
type tracing struct {
	tp *sdktrace.TracerProvider
}

// startTracing sets up tracing when OTEL_TRACES_EXPORTER names an
// exporter, and returns nil when it is unset, empty or "none": the
// exporter package defaults to OTLP, which would send spans to a collector
// on localhost that a user who asked for nothing does not run.
func startTracing(ctx context.Context) (*tracing, error) {
	switch strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")) {
	case "", "none":
		return nil, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "seshat")), // OTEL_SERVICE_NAME overrides it
		resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	// A caller's traceparent makes the request's span a child of its own.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &tracing{tp: tp}, nil
}

// observer returns the session spans' observer for a store of kind.
func (t *tracing) observer(kind storeKind) (*otelseshat.Observer, error) {
	return otelseshat.New(otelseshat.Options{TracerProvider: t.tp, Store: string(kind)})
}

// handler wraps h in a server span per request, the session spans'
// parent.
func (t *tracing) handler(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "seshat serve", otelhttp.WithTracerProvider(t.tp))
}

// traceRedis adds a span per Redis command, a child of the session
// operation's, without the command's arguments: they hold session keys
// and values.
func (t *tracing) traceRedis(su *setup) error {
	if su.redis == nil {
		return nil
	}
	return redisotel.InstrumentTracing(su.redis.Client(), redisotel.WithTracerProvider(t.tp), redisotel.WithDBStatement(false))
}

// shutdown exports the spans not yet sent.
func (t *tracing) shutdown(ctx context.Context) error {
	return t.tp.Shutdown(ctx)
}
