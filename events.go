package seshat

import (
	"context"
	"time"

	"github.com/seshat-go/seshat/store"
)

// LifecycleEvent is a change in a session's life: store.Created,
// store.Regenerated (Previous names the old handle), store.Destroyed
// (Reason: store.Logout, Revoked, UserCap or Corrupt) or store.Expired. User is the
// user as the store keeps it: Manager.UserKey of the user ID, never the ID
// itself (unless Options.UserIDsInClear). seshat never destroys a session for its size: it refuses
// the write instead.
type LifecycleEvent = store.LifecycleEvent

// publish sends an event to the store's log when Options.Events is on. A
// failure is logged, not returned: the session change it reports is done.
func (m *Manager) publish(ctx context.Context, e LifecycleEvent) {
	if !m.opts.Events {
		return
	}
	e.At = m.now()
	log := m.store.(store.EventLog)
	err := m.op(ctx, "publish", true, func(ctx context.Context) error { return log.Publish(ctx, e) })
	if err != nil {
		m.opts.Logger.Warn("seshat: cannot publish a lifecycle event", "kind", e.Kind, "err", err)
	}
}

// Listen calls fn with every lifecycle event that any instance publishes
// (Options.Events), until ctx ends, and every sweepEvery looks for sessions
// that expired (a lock in the store lets one instance at a time do it), so
// that "expired" events need neither keyspace notifications nor CONFIG. An
// expired session is reported within sweepEvery, plus the time to scan the
// user indexes, of its expiry; only sessions bound to a user are reported.
// Every event is delivered at least once to each listener that runs when
// it is published. fn runs on one goroutine, in order.
func (m *Manager) Listen(ctx context.Context, fn func(LifecycleEvent), sweepEvery time.Duration) error {
	log, ok := m.store.(store.EventLog)
	if !ok {
		return ErrNotSupported
	}
	if sweepEvery <= 0 {
		sweepEvery = 10 * time.Second
	}
	go func() {
		tick := time.NewTicker(sweepEvery)
		defer tick.Stop()
		for {
			// A sweep scans every user index: it gets far more time than
			// one request's store operation.
			sctx, cancel := context.WithTimeout(ctx, max(sweepEvery, time.Minute))
			err := log.SweepExpired(sctx, m.now(), sweepEvery*9/10)
			cancel()
			if err != nil && ctx.Err() == nil {
				m.opts.Logger.Warn("seshat: expiry sweep failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return log.Follow(ctx, func(e LifecycleEvent) {
		m.observe(Event{Kind: EventLifecycle, Op: string(e.Kind), Reason: e.Reason})
		fn(e)
	})
}
