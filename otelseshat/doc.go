// Package otelseshat reports seshat's sessions to OpenTelemetry: a span
// for every store operation (load, create, commit, incr, update, destroy,
// take, ...) and every administrative call (Revoke, RevokeUser,
// UserSessions, ...), a child of the span its context carries, the
// request's when otelhttp or a framework's middleware started one; and two
// duration histograms and an event counter, for teams that export metrics
// through OpenTelemetry rather than Prometheus (package metrics).
//
// Set an Observer as seshat.Options.Observer. It implements
// seshat.SpanObserver, so the store receives the context that holds the
// operation's span: a store client's own tracing (go-redis's redisotel,
// pgx's tracer) nests its spans under it.
//
// Spans and metrics carry the operation, the store's name, the result
// (ok, not_found, conflict, ...) and the number of retries, and never a
// session ID, a handle, a user or a value: telemetry travels further than
// the session store and is kept longer, and a session ID in a trace is a
// login for whoever reads it. For the same reason an error's message is
// not recorded (it may name a handle), only its class.
package otelseshat
