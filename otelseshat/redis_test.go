package otelseshat_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

// redisStore starts a redis-server (the test fails with an install hint
// when there is none) and returns a store on a client whose commands
// redisotel traces on tel, recording their arguments or not.
func redisStore(t *testing.T, tel *telemetry, statements bool) *redisstore.Store {
	t.Helper()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { client.Close() })
	if err := redisotel.InstrumentTracing(client, redisotel.WithTracerProvider(tel.tp), redisotel.WithDBStatement(statements)); err != nil {
		t.Fatal(err)
	}
	st, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Against a real Redis traced by redisotel without command arguments: the
// session spans are children of the requests' and the Redis commands'
// spans children of the session spans, and nothing in any span or metric
// holds an ID, a handle, the user or a value.
func TestRedis(t *testing.T) {
	tel := newTelemetry(t)
	sec := run(t, tel, redisStore(t, tel, false), "redis")
	spans := tel.spans.Ended()
	byID := checkSpans(t, spans, "redis")
	checkMetrics(t, tel.metrics(t), "redis")

	commands := map[trace.SpanID]int{} // Redis commands under each session span
	for _, sp := range spans {
		if sp.InstrumentationScope().Name == "test" || strings.HasPrefix(sp.Name(), "seshat.") {
			continue
		}
		parent, ok := byID[sp.Parent().SpanID()]
		if !ok {
			continue // the store's own work (loading its scripts), outside any request
		}
		if parent.InstrumentationScope().Name == sp.InstrumentationScope().Name {
			continue // a connection's handshake under the command that dialled it
		}
		if !strings.HasPrefix(parent.Name(), "seshat.") || strings.HasPrefix(parent.Name(), "seshat.admin.") {
			t.Errorf("Redis command %s is a child of %s; want a session store operation's span", sp.Name(), parent.Name())
		}
		commands[parent.SpanContext().SpanID()]++
	}
	for _, sp := range spans {
		if n := sp.Name(); strings.HasPrefix(n, "seshat.") && !strings.HasPrefix(n, "seshat.admin.") && commands[sp.SpanContext().SpanID()] == 0 {
			t.Errorf("%s has no Redis command under it: the store did not get the span's context", n)
		}
	}
	if len(commands) == 0 {
		t.Fatal("no Redis command span: redisotel recorded nothing")
	}
	for _, leak := range append(sec.spanLeaks(spans), sec.metricLeaks(tel.metrics(t))...) {
		t.Error(leak)
	}
}

// Why the README says WithDBStatement(false): by default redisotel puts
// each command with its arguments in db.statement, and the arguments are
// the session's keys (which hold the handle) and its values.
func TestRedisotelStatementsLeak(t *testing.T) {
	tel := newTelemetry(t)
	sec := run(t, tel, redisStore(t, tel, true), "redis")
	leaks := strings.Join(sec.spanLeaks(tel.spans.Ended()), "\n")
	for _, want := range []string{testNote, "db.statement"} {
		if !strings.Contains(leaks, want) {
			t.Errorf("with statements on, no leak of %q found; the leaks:\n%s", want, leaks)
		}
	}
}
