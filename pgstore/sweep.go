package pgstore

import (
	"context"
	"time"
)

// sweepSQL removes up to $2 rows past their expiry at $1 (sessions and
// moved markers) and, in the same statement, publishes an "expired" event
// for each removed session that was bound to a user. Rows another sweeper
// holds are skipped (SKIP LOCKED), so concurrent sweepers never remove a
// row, or report an expiry, twice; a row a commit holds is skipped too
// and removed by a later sweep.
const sweepSQL = `WITH gone AS (
	DELETE FROM seshat_sessions WHERE key IN (
		SELECT key FROM seshat_sessions WHERE expires <= $1 ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED)
	RETURNING key, user_key, idle
), published AS (
	INSERT INTO seshat_events (at, kind, handle, user_key)
	SELECT $1, 'expired', key, user_key FROM gone WHERE idle > 0 AND user_key IS NOT NULL
	RETURNING id
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM published),
	(SELECT count(*) FROM (SELECT pg_notify('seshat_events', '') FROM (SELECT 1 FROM published LIMIT 1) AS one) AS notified)`

// Sweep removes every row past its expiry at now, in statements of at
// most Options.SweepBatch rows, publishing an exact "expired" event for
// each session bound to a user (see Options.SweepEvery); it also prunes
// the operation log and events older than Options.EventsKept. It returns
// how many sessions and markers it removed. The sweeper calls it; call it
// yourself when Options.SweepEvery is negative.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		var removed, published int64
		var notified int64
		if err := s.pool.QueryRow(ctx, sweepSQL, ms(now), s.opts.SweepBatch).Scan(&removed, &published, &notified); err != nil {
			return total, fail("sweep", err)
		}
		total += removed
		if removed < int64(s.opts.SweepBatch) {
			break
		}
	}
	for _, q := range []string{
		// The operation log ages by the database's clock (seshat_applied).
		`DELETE FROM seshat_ops WHERE id IN (SELECT id FROM seshat_ops WHERE at < seshat_db_ms() - 60000 AND $2::bigint IS NOT NULL LIMIT $1)`,
		`DELETE FROM seshat_events WHERE id IN (SELECT id FROM seshat_events WHERE at < $2 ORDER BY id LIMIT $1)`,
	} {
		for {
			tag, err := s.pool.Exec(ctx, q, s.opts.SweepBatch, ms(now.Add(-s.opts.EventsKept)))
			if err != nil {
				return total, fail("sweep", err)
			}
			if tag.RowsAffected() < int64(s.opts.SweepBatch) {
				break
			}
		}
	}
	return total, nil
}

// sweepLoop sweeps every Options.SweepEvery until ctx ends. A failed sweep
// (the database is down) is tried again at the next tick.
func (s *Store) sweepLoop(ctx context.Context) {
	defer close(s.swept)
	t := time.NewTicker(s.opts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sctx, cancel := context.WithTimeout(ctx, s.opts.SweepEvery)
			s.Sweep(sctx, time.Now())
			cancel()
		}
	}
}
