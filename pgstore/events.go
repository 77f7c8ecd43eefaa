package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seshat-go/seshat/store"
)

var _ store.EventLog = (*Store)(nil)

// Events reach every instance through the seshat_events table, which
// Follow polls by id; NOTIFY only wakes the followers up. Polling is what
// makes delivery survive a restart, a lost connection or an outage (a
// notification sent while a follower was away is gone; a row is not), and
// NOTIFY keeps the latency at a round trip instead of a poll interval.

const (
	eventsChannel = "seshat_events"
	// pollEvery bounds how long an event waits when a notification is
	// lost (or LISTEN is refused, e.g. by a transaction-mode pooler).
	pollEvery = time.Second
	// holeWait is how long Follow waits for an id below the newest it has
	// seen: ids are taken in order but committed in any order, so a lower
	// id may appear later (or never: a rolled-back insert leaves a gap).
	holeWait = 10 * time.Second
	// maxHoles bounds the ids waited for after one jump.
	maxHoles = 1000
)

// Publish implements store.EventLog: a row in seshat_events and a
// notification, in one statement.
func (s *Store) Publish(ctx context.Context, e store.LifecycleEvent) error {
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	var user []byte
	if e.User != "" {
		user = []byte(e.User)
	}
	_, err := s.pool.Exec(ctx, `WITH e AS (INSERT INTO seshat_events (at, kind, reason, handle, previous, user_key)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
		SELECT pg_notify('`+eventsChannel+`', '') FROM e`, ms(at), string(e.Kind), string(e.Reason), e.Handle, e.Previous, user)
	if err != nil {
		return fail("publish", err)
	}
	return nil
}

// Follow implements store.EventLog: it delivers every event published
// after it started, polling seshat_events by id whenever a notification
// arrives and at least every second, until ctx ends. While the database
// is unreachable it retries; events published meanwhile are delivered
// when it answers again (within Options.EventsKept). Events from
// transactions that commit out of order are delivered as they appear, so
// the order is that of commits as seen by the follower.
func (s *Store) Follow(ctx context.Context, fn func(store.LifecycleEvent)) error {
	var last int64
	for {
		err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM seshat_events`).Scan(&last)
		if err == nil {
			break
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return nil
		}
	}
	f := follower{s: s, last: last, holes: map[int64]time.Time{}, fn: fn}
	for ctx.Err() == nil {
		if err := f.listen(ctx); err != nil && !sleep(ctx, 200*time.Millisecond) {
			break
		}
	}
	return nil
}

type follower struct {
	s     *Store
	last  int64
	holes map[int64]time.Time // ids below last not seen yet, until when to wait for them
	fn    func(store.LifecycleEvent)
}

// listen holds a connection that LISTENs, and polls after each
// notification or pollEvery, until the connection fails or ctx ends.
func (f *follower) listen(ctx context.Context) error {
	conn, err := f.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release(conn)
	listening := true
	if _, err := conn.Exec(ctx, "LISTEN "+eventsChannel); err != nil {
		listening = false // poll only
	}
	for ctx.Err() == nil {
		if err := f.poll(ctx, conn); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, pollEvery)
		if listening {
			_, err = conn.Conn().WaitForNotification(wctx)
		} else {
			<-wctx.Done()
		}
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}

// release returns a connection to the pool, or closes it when it may be
// broken or still LISTENing.
func release(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if !conn.Conn().IsClosed() {
		if _, err := conn.Exec(ctx, "UNLISTEN *"); err != nil {
			conn.Conn().Close(ctx)
		}
	}
	conn.Release()
}

// poll delivers the events after last, and those of the holes that have
// appeared since.
func (f *follower) poll(ctx context.Context, conn *pgxpool.Conn) error {
	now := time.Now()
	holes := make([]int64, 0, len(f.holes))
	for id, until := range f.holes {
		if now.After(until) {
			delete(f.holes, id)
			continue
		}
		holes = append(holes, id)
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := conn.Query(qctx, `SELECT id, at, kind, reason, handle, previous, user_key FROM seshat_events
		WHERE id > $1 OR id = ANY ($2) ORDER BY id LIMIT 1000`, f.last, holes)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, at int64
		var kind, reason string
		var user []byte
		var e store.LifecycleEvent
		if err := rows.Scan(&id, &at, &kind, &reason, &e.Handle, &e.Previous, &user); err != nil {
			return err
		}
		if _, ok := f.holes[id]; ok {
			delete(f.holes, id)
		} else if id > f.last {
			for h := max(f.last+1, id-maxHoles); h < id; h++ {
				f.holes[h] = now.Add(holeWait)
			}
			f.last = id
		} else {
			continue
		}
		e.Kind, e.Reason, e.User, e.At = store.Kind(kind), store.Reason(reason), string(user), time.UnixMilli(at)
		f.fn(e)
	}
	return rows.Err()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// SweepExpired implements store.EventLog: it runs Sweep, which publishes
// an "expired" event for every removed session that was bound to a user.
// Sweepers skip each other's rows instead of taking turns, so lockFor is
// not needed.
func (s *Store) SweepExpired(ctx context.Context, now time.Time, lockFor time.Duration) error {
	_, err := s.Sweep(ctx, now)
	return err
}

var _ store.EventEraser = (*Store)(nil)

// EraseUser implements store.EventEraser: it deletes user's rows of
// seshat_events.
func (s *Store) EraseUser(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM seshat_events WHERE user_key = $1`, []byte(user))
	if err != nil {
		return 0, fail("erase events", err)
	}
	return int(tag.RowsAffected()), nil
}
