// Package store defines the contract between seshat and the places sessions
// live: a small Store interface that every store implements, optional
// capabilities a store may add, and the errors stores return.
//
// A store never sees a session ID as it travels in a cookie. The manager
// hands it an opaque key (a keyed hash of the ID), so a copy of the store
// gives nobody a usable cookie. A store also never interprets values: it keeps
// bytes under names, except for integers written in the canonical decimal
// form, which Commit can increment in place (see Delta.Incr).
//
// The package storetest is the specification in executable form: a store is
// done when storetest.Run passes against it.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by stores. Stores wrap them with context; callers test
// them with errors.Is.
var (
	// ErrNotFound means no live session has that key: it never existed,
	// expired, or was destroyed.
	ErrNotFound = errors.New("session not found")
	// ErrExists means Create found a session already stored under the key.
	ErrExists = errors.New("session already exists")
	// ErrConflict means a Delta's expectations did not hold; nothing of the
	// commit was applied. Result.Current holds the values found instead.
	ErrConflict = errors.New("session changed concurrently")
	// ErrTooLarge means the commit would grow the session beyond
	// Delta.MaxSize; nothing of the commit was applied.
	ErrTooLarge = errors.New("session too large")
	// ErrNotInteger means Delta.Incr named a value that is not a canonical
	// decimal integer, or the result would overflow int64; nothing of the
	// commit was applied.
	ErrNotInteger = errors.New("value is not an integer")
	// ErrCorrupt means the stored record cannot be read: foreign data under
	// a session key, a field of the wrong shape, or an unknown format
	// version. It is untrusted input, not a system failure.
	ErrCorrupt = errors.New("stored session is corrupt")
	// ErrUnavailable means the store could not be reached or did not answer
	// in time. It is the one error that means "try again later" (HTTP 503).
	ErrUnavailable = errors.New("session store unavailable")
	// ErrMoved means the session was moved to a new ID by a Regenerate
	// (a login) moments ago: the request that carries the old ID is a
	// straggler, and must neither read nor write the new session nor
	// replace the browser's new cookie.
	ErrMoved = errors.New("session moved to a new ID")
	// ErrFull means the store refused a write for lack of memory (Redis at
	// maxmemory with noeviction). Nothing of the write was applied; reads
	// keep working (HTTP 507).
	ErrFull = errors.New("session store full")
)

// MovedGrace is how long Take leaves its marker: longer than any request
// that could still carry the old ID.
const MovedGrace = time.Minute

// FormatVersion is the version of the stored record layout that this
// release writes and reads. Stores persist it with every record and report
// ErrCorrupt for a version they do not know.
const FormatVersion = 1

// Record is a whole session as stored.
type Record struct {
	// Values maps names to encoded values. Stores copy what they keep;
	// callers may reuse the slices afterwards.
	Values map[string][]byte
	// User is the opaque key of the user the session is bound to, or "".
	// Stores that implement UserIndex index sessions by it.
	User string
	// Created is when the session was created.
	Created time.Time
	// Touched is when the idle expiry was last refreshed.
	Touched time.Time
	// IdleTimeout is how long the session lives without activity.
	IdleTimeout time.Duration
	// Deadline is the absolute end of the session's life.
	Deadline time.Time
	// Cookie is what a store of another application's layout keeps about
	// the session's cookie (expresscompat: express-session's cookie
	// object, as JSON), for a seshat.CookieIssuer to send that cookie.
	// Stores of seshat's own layout leave it nil.
	Cookie []byte

	// digits holds the value Apply's increment stored (see Apply).
	digits [20]byte
}

// ExpiresAt is when the record expires: the earlier of its idle expiry and
// its absolute deadline. A store must not keep a record past this instant.
func (r *Record) ExpiresAt() time.Time {
	idle := r.Touched.Add(r.IdleTimeout)
	if idle.Before(r.Deadline) {
		return idle
	}
	return r.Deadline
}

// Size is what counts against a session's size limit: the bytes of all
// value names and values.
func (r *Record) Size() int {
	n := 0
	for k, v := range r.Values {
		n += len(k) + len(v)
	}
	return n
}

// LoadOptions controls Load.
type LoadOptions struct {
	// Now is the current time, as the manager's clock sees it.
	Now time.Time
	// TouchAfter: when at least this long has passed since Touched, Load
	// refreshes the idle expiry (sets Touched to Now) in the same atomic
	// operation. Zero means touch on every load.
	TouchAfter time.Duration
}

// Expect is a precondition of a commit: the value stored under Name must be
// exactly Value, or absent when Absent is set.
type Expect struct {
	Name   string
	Value  []byte
	Absent bool
}

// Incr asks a commit to add By to the integer stored under Name (a missing
// value counts as 0). Integers are stored in canonical decimal form
// (strconv.FormatInt), which is what seshat's codec writes for them.
type Incr struct {
	Name string
	By   int64
}

// Delta is what one commit changes. It is applied atomically: all of it, or
// (on any error) none of it.
type Delta struct {
	// Now is the current time; a commit counts as activity, so it also
	// refreshes the idle expiry (sets Touched to Now) when TouchAfter has
	// passed since the last refresh.
	Now time.Time
	// TouchAfter works as in LoadOptions: a commit refreshes the idle
	// expiry only when at least this long has passed since Touched, or
	// when it sets IdleTimeout or Deadline. Zero means on every commit.
	TouchAfter time.Duration
	// Expect lists preconditions checked before anything is written.
	Expect []Expect
	// Set maps names to new encoded values.
	Set map[string][]byte
	// Delete lists names to remove.
	Delete []string
	// Incr, when not nil, increments one integer value, after Set and
	// Delete are applied; Result.Value holds the value stored afterwards.
	Incr *Incr
	// User, when not nil, binds the session to *User ("" unbinds).
	User *string
	// IdleTimeout and Deadline, when non-zero, replace the stored ones.
	IdleTimeout time.Duration
	Deadline    time.Time
	// MaxSize, when positive, caps Record.Size after the commit. A commit
	// that would end above it (and above the size before it) fails with
	// ErrTooLarge.
	MaxSize int
}

// Empty reports whether the delta changes nothing.
func (d *Delta) Empty() bool {
	return len(d.Set) == 0 && len(d.Delete) == 0 && d.Incr == nil && d.User == nil &&
		d.IdleTimeout == 0 && d.Deadline.IsZero()
}

// Result is what Commit reports.
type Result struct {
	// Value is the integer stored after Delta.Incr.
	Value int64
	// Current holds, on ErrConflict, the values found for the expected
	// names (a missing name is absent from the map).
	Current map[string][]byte
}

// Store keeps sessions. Every method must be safe for concurrent use, and
// every method that changes a session must be atomic with respect to all
// others on the same session. A store must never keep a record past
// Record.ExpiresAt.
type Store interface {
	// Load returns the live session stored under key, or ErrNotFound. It
	// refreshes the idle expiry when opts.TouchAfter has passed, and writes
	// nothing otherwise.
	Load(ctx context.Context, key string, opts LoadOptions) (*Record, error)

	// Create stores a new session. It fails with ErrExists if key is taken.
	// It is the only method that may bring a key into existence. A store
	// may take a Create that finds exactly rec under key for a retry of
	// its own (a reply lost) and succeed without writing: keys name one
	// creation each (the manager's are hashes of fresh 256-bit IDs).
	Create(ctx context.Context, key string, rec *Record) error

	// Commit applies d to the live session under key, atomically. If there
	// is none (destroyed, expired) it fails with ErrNotFound and creates
	// nothing: this is what makes a destroy final.
	Commit(ctx context.Context, key string, d *Delta) (Result, error)

	// Destroy removes the session under key. Destroying a missing session
	// is not an error.
	Destroy(ctx context.Context, key string) error

	// Take removes the live session under key and returns what it held, in
	// one atomic step, or fails with ErrNotFound. Regenerate uses it so that
	// every commit to the old key either lands before the move (and moves
	// with it) or fails afterwards. It leaves a marker for MovedGrace: Load
	// and Commit on the key then fail with ErrMoved instead of ErrNotFound.
	Take(ctx context.Context, key string, now time.Time) (*Record, error)
}

// SessionInfo describes a stored session without its values.
type SessionInfo struct {
	// Key is the store key of the session.
	Key      string
	User     string
	Created  time.Time
	Touched  time.Time
	Deadline time.Time
	// ExpiresAt is the earlier of the idle expiry and the deadline.
	ExpiresAt time.Time
}

// UserIndex is implemented by stores that can list the sessions bound to a
// user. The manager uses it to cap sessions per user and to revoke all of a
// user's sessions.
type UserIndex interface {
	// UserSessions returns the live sessions bound to user, oldest first.
	UserSessions(ctx context.Context, user string, now time.Time) ([]SessionInfo, error)
}

// Immediate is implemented by stores whose operations never wait on a
// network or a disk (memstore): the Manager runs them without the deadline
// of Options.StoreTimeout, whose timer would cost more than the operation.
type Immediate interface {
	// Immediate reports whether the store's operations return without
	// waiting on anything but its own locks.
	Immediate() bool
}

// Counter is implemented by stores that can count live sessions exactly
// and cheaply (without scanning the sessions).
type Counter interface {
	// Count returns the number of sessions alive at now. A store may count
	// a session for a few seconds past its expiry (redisstore: at most 5).
	Count(ctx context.Context, now time.Time) (int64, error)
}

// Iterator is implemented by stores that can walk every stored session in
// bounded batches (for administration: listing, re-encryption), never in
// one unbounded sweep.
type Iterator interface {
	// Scan calls fn with batches of at most about batch sessions alive at
	// now, until every session stored when Scan started was visited or fn
	// returns an error (which Scan returns). A session may be visited more
	// than once; sessions created during the scan may be missed.
	Scan(ctx context.Context, now time.Time, batch int, fn func([]SessionInfo) error) error
}

// Stats describes a store for monitoring. Fields a store cannot tell are
// zero (or nil).
type Stats struct {
	// Sessions is the number of live sessions (from Counter).
	Sessions int64
	// UsedMemory and MaxMemory are bytes of memory, for a store that keeps
	// its data in memory (Redis); MaxMemory 0 means no limit.
	UsedMemory, MaxMemory int64
	// DiskBytes is what the data takes on disk, for a store that keeps it
	// there (a database's tables and indexes).
	DiskBytes int64
	// EvictedKeys counts keys the store dropped for memory since it
	// started.
	EvictedKeys int64
	// EvictionPolicy names what the store drops when full.
	EvictionPolicy string
	// Pool describes the client's connection pool.
	Pool *PoolStats
	// ForeignKeys names the keys where the store keeps its own
	// bookkeeping but found something it did not write (a wrong type,
	// garbage). They fail no request and are reported here for an
	// operator to look at; what they kept (a bucket's count) is missing
	// meanwhile.
	ForeignKeys []string
}

// PoolStats describes a client connection pool.
type PoolStats struct {
	Hits, Misses, Timeouts uint64 // cumulative
	TotalConns, IdleConns  uint64
}

// StatsReporter is implemented by stores that can describe themselves for
// monitoring.
type StatsReporter interface {
	Stats(ctx context.Context, now time.Time) (Stats, error)
}

// Kind is what happened to a session, in a LifecycleEvent.
type Kind string

// The kinds of LifecycleEvent.
const (
	Created     Kind = "created"
	Regenerated Kind = "regenerated"
	Destroyed   Kind = "destroyed"
	Expired     Kind = "expired"
)

// Reason is why a session was destroyed, in a LifecycleEvent of kind
// Destroyed (and in seshat's Observer events and metrics).
type Reason string

// The reasons a session is destroyed.
const (
	// Logout: Session.Destroy.
	Logout Reason = "logout"
	// Revoked: an administrative revocation (Manager.Revoke, RevokeUser,
	// RevokeOthers, the command's sessions revoke).
	Revoked Reason = "revoked"
	// UserCap: the user went over Options.MaxSessionsPerUser; the oldest
	// sessions go.
	UserCap Reason = "user_cap"
	// Corrupt: the session's data could not be read and OnCorrupt chose a
	// fresh session.
	Corrupt Reason = "corrupt"
)

// LifecycleEvent is a change in a session's life.
type LifecycleEvent struct {
	// Kind is Created, Regenerated, Destroyed or Expired.
	Kind Kind `json:"kind"`
	// Reason qualifies Destroyed.
	Reason Reason `json:"reason,omitempty"`
	// Handle is the session's store key; Previous is the handle a
	// regenerated session had before.
	Handle   string `json:"handle"`
	Previous string `json:"previous,omitempty"`
	// User is the user the session was bound to, as the store keeps it:
	// a keyed hash of the user ID (seshat's Manager.UserKey), unless the
	// manager keeps user IDs in the clear.
	User string `json:"user,omitempty"`
	// At is when it happened (for "expired": when it was noticed).
	At time.Time `json:"at"`
}

// EventLog is implemented by stores that keep a log of lifecycle events
// shared by every instance, and can notice expired sessions without
// keyspace notifications.
type EventLog interface {
	// Publish appends an event to the log.
	Publish(ctx context.Context, e LifecycleEvent) error
	// Follow calls fn with every event published from now on, in order,
	// until ctx ends. It survives store outages (events published while it
	// could not read are delivered when it can, within the log's length).
	Follow(ctx context.Context, fn func(LifecycleEvent)) error
	// SweepExpired publishes an "expired" event for every session bound to
	// a user that has expired since the last sweep, then forgets it. Many
	// instances may call it: a lock lets one sweep at a time, and the
	// others return at once.
	SweepExpired(ctx context.Context, now time.Time, lockFor time.Duration) error
}

// EventEraser is implemented by event logs that can remove the entries of
// one user, for a request to be forgotten (seshat's Manager.EraseUser).
type EventEraser interface {
	// EraseUser removes every logged event whose User is user, and
	// returns how many it removed.
	EraseUser(ctx context.Context, user string) (int, error)
}
