package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seshat-go/seshat/store"
)

var (
	_ store.UserIndex = (*Store)(nil)
	_ store.Counter   = (*Store)(nil)
	_ store.Iterator  = (*Store)(nil)
)

const infoColumns = `key, coalesce(user_key, ''::bytea), created, touched, deadline, expires`

func scanInfos(rows pgx.Rows) ([]store.SessionInfo, error) {
	defer rows.Close()
	var out []store.SessionInfo
	for rows.Next() {
		var in store.SessionInfo
		var created, touched, deadline, expires int64
		var user []byte
		if err := rows.Scan(&in.Key, &user, &created, &touched, &deadline, &expires); err != nil {
			return nil, err
		}
		in.User = string(user)
		in.Created, in.Touched = time.UnixMilli(created), time.UnixMilli(touched)
		in.Deadline, in.ExpiresAt = time.UnixMilli(deadline), time.UnixMilli(expires)
		out = append(out, in)
	}
	return out, rows.Err()
}

// UserSessions implements store.UserIndex: the live sessions bound to
// user, oldest first (an index on user_key).
func (s *Store) UserSessions(ctx context.Context, user string, now time.Time) ([]store.SessionInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+infoColumns+` FROM seshat_sessions
		WHERE user_key = $1 AND idle > 0 AND expires > $2 ORDER BY created, key`, []byte(user), ms(now))
	if err != nil {
		return nil, fail("user sessions", err)
	}
	infos, err := scanInfos(rows)
	if err != nil {
		return nil, fail("user sessions", err)
	}
	return infos, nil
}

// Count implements store.Counter, exactly: the rows the counter triggers
// keep (migration 003), less those already past their expiry that the
// sweeper has not removed yet (an index range scan over few rows).
func (s *Store) Count(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT (SELECT coalesce(sum(n), 0) FROM seshat_counts)
		- (SELECT count(*) FROM seshat_sessions WHERE expires <= $1 AND idle > 0)`, ms(now)).Scan(&n)
	if err != nil {
		return 0, fail("count", err)
	}
	return n, nil
}

// Scan implements store.Iterator, in key order, batch rows at a time
// (keyset pagination: each batch one indexed query).
func (s *Store) Scan(ctx context.Context, now time.Time, batch int, fn func([]store.SessionInfo) error) error {
	if batch <= 0 {
		batch = 1000
	}
	after := ""
	for {
		rows, err := s.pool.Query(ctx, `SELECT `+infoColumns+` FROM seshat_sessions
			WHERE key > $1 AND idle > 0 AND expires > $2 ORDER BY key LIMIT $3`, after, ms(now), batch)
		if err != nil {
			return fail("scan", err)
		}
		infos, err := scanInfos(rows)
		if err != nil {
			return fail("scan", err)
		}
		if len(infos) == 0 {
			return nil
		}
		if err := fn(infos); err != nil {
			return err
		}
		after = infos[len(infos)-1].Key
	}
}
