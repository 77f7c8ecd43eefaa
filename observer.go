package seshat

import (
	"context"
	"time"

	"github.com/seshat-go/seshat/store"
)

// EventKind names something that happened to a session.
type EventKind uint8

// The kinds of Event.
const (
	// EventStoreOp reports one store operation: Op, Duration and Err are set.
	EventStoreOp EventKind = iota
	// EventCreated: a new session was stored.
	EventCreated
	// EventDestroyed: a session was destroyed; Reason says why (logout,
	// revoked, user_cap, corrupt).
	EventDestroyed
	// EventRegenerated: a session moved to a new ID.
	EventRegenerated
	// EventExpired: a cookie named a session that had expired or was gone.
	EventExpired
	// EventConflict: an Update lost a race and retried.
	EventConflict
	// EventCorrupt: a stored record or value could not be decoded.
	EventCorrupt
	// EventRejectedCookie: a cookie failed signature verification.
	EventRejectedCookie
	// EventLifecycle: Listen delivered a lifecycle event; Op is its kind
	// ("created", "regenerated", "destroyed", "expired").
	EventLifecycle
	// EventAdmin reports one administrative call: Op ("revoke",
	// "revoke_user", "user_sessions", "sessions", "edit", "inspect",
	// "rekey", "export_user", "erase_user", "user_of", or Session.RevokeOthers'
	// "revoke_others"), Duration and Err
	// are set. The store operations
	// it makes are reported on their own, as EventStoreOp.
	EventAdmin
)

// String returns the kind's name as used in metrics labels.
func (k EventKind) String() string {
	switch k {
	case EventStoreOp:
		return "store_op"
	case EventCreated:
		return "created"
	case EventDestroyed:
		return "destroyed"
	case EventRegenerated:
		return "regenerated"
	case EventExpired:
		return "expired"
	case EventConflict:
		return "conflict"
	case EventCorrupt:
		return "corrupt"
	case EventRejectedCookie:
		return "rejected_cookie"
	case EventLifecycle:
		return "lifecycle"
	case EventAdmin:
		return "admin"
	}
	return "unknown"
}

// Event is what a Manager tells its Observer.
type Event struct {
	Kind EventKind
	// Op is the store operation for EventStoreOp: "load", "create",
	// "commit", "incr", "update", "destroy", "take", "user_sessions",
	// "publish"; the call for EventAdmin; the kind for EventLifecycle.
	Op string
	// Duration is how long the store operation took.
	Duration time.Duration
	// Err is the operation's error, if any.
	Err error
	// Reason is why a session was destroyed, for EventDestroyed.
	Reason store.Reason
	// Retries counts, for a store operation that Update, Incr or Rekey
	// repeats after a conflict (another request changed the value), the
	// attempts of the same call that came before it: 0 on the first.
	Retries int
}

// Observer is told of store operations and session events, for metrics.
// Observe is called synchronously on the request path and must be fast and
// safe for concurrent use.
type Observer interface {
	Observe(Event)
}

// SpanObserver is an Observer that also brackets every store operation
// and administrative call, within its context: a tracer starts a span in
// Start, as a child of the span the context carries (the request's), and
// ends it in the function Start returns. The Manager finds the ability
// with a type assertion on Options.Observer; an Observer without it costs
// a request nothing more.
type SpanObserver interface {
	Observer
	// Start is called as an operation begins: e has Kind (EventStoreOp or
	// EventAdmin), Op and Retries set, and ctx is the context the
	// operation was called with. The operation runs under the context
	// Start returns, which the store receives, so that a store client's
	// own tracing (go-redis's redisotel, pgx's tracer) sees the span
	// started here as its parent. end is called once, when the operation
	// ends, with the whole Event, in place of Observe. Start is called on
	// the request path: it must be fast and safe for concurrent use.
	Start(ctx context.Context, e Event) (_ context.Context, end func(Event))
}

// Observers returns an Observer that tells each of obs in turn (nil ones
// are left out): the Prometheus collector and a tracer, say. It is a
// SpanObserver when any of them is one: their Start calls nest in order,
// each under the context the one before returned, and at the end each
// SpanObserver's end runs, in reverse order, and each other Observer's
// Observe.
func Observers(obs ...Observer) Observer {
	var all []Observer
	spans := false
	for _, o := range obs {
		if o != nil {
			all = append(all, o)
			_, ok := o.(SpanObserver)
			spans = spans || ok
		}
	}
	switch {
	case len(all) == 0:
		return nil
	case len(all) == 1:
		return all[0]
	case spans:
		return spanObservers{all}
	}
	return observers(all)
}

type observers []Observer

func (o observers) Observe(e Event) {
	for _, x := range o {
		x.Observe(e)
	}
}

type spanObservers struct{ observers }

func (o spanObservers) Start(ctx context.Context, e Event) (context.Context, func(Event)) {
	ends := make([]func(Event), len(o.observers))
	for i, x := range o.observers {
		if s, ok := x.(SpanObserver); ok {
			ctx, ends[i] = s.Start(ctx, e)
		}
	}
	return ctx, func(e Event) {
		for i := len(ends) - 1; i >= 0; i-- {
			if ends[i] != nil {
				ends[i](e)
			} else {
				o.observers[i].Observe(e)
			}
		}
	}
}
