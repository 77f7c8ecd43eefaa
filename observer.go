package seshat

import (
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
	}
	return "unknown"
}

// Event is what a Manager tells its Observer.
type Event struct {
	Kind EventKind
	// Op is the store operation for EventStoreOp: "load", "create",
	// "commit", "incr", "update", "destroy", "take", "user_sessions",
	// "publish".
	Op string
	// Duration is how long the store operation took.
	Duration time.Duration
	// Err is the operation's error, if any.
	Err error
	// Reason is why a session was destroyed, for EventDestroyed.
	Reason store.Reason
}

// Observer is told of store operations and session events, for metrics.
// Observe is called synchronously on the request path and must be fast and
// safe for concurrent use.
type Observer interface {
	Observe(Event)
}
