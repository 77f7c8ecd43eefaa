package pgstore

import (
	"context"
	"time"

	"github.com/seshat-go/seshat/store"
)

var _ store.StatsReporter = (*Store)(nil)

// tables are the store's tables, for sizes.
var tables = []string{"seshat_sessions", "seshat_values", "seshat_counts", "seshat_events", "seshat_ops"}

// Stats implements store.StatsReporter: the exact live count, the bytes
// the store's tables and their indexes take on disk (DiskBytes) and the
// connection pool.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	var st store.Stats
	n, err := s.Count(ctx, now)
	if err != nil {
		return st, err
	}
	st.Sessions = n
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint FROM unnest($1::text[]) AS t`,
		tables).Scan(&st.DiskBytes); err != nil {
		return st, fail("stats", err)
	}
	ps := s.pool.Stat()
	st.Pool = &store.PoolStats{
		Hits:       uint64(ps.AcquireCount() - ps.EmptyAcquireCount()),
		Misses:     uint64(ps.EmptyAcquireCount()),
		Timeouts:   uint64(ps.CanceledAcquireCount()),
		TotalConns: uint64(ps.TotalConns()),
		IdleConns:  uint64(ps.IdleConns()),
	}
	return st, nil
}

// UserSessions is a user and how many live sessions it has, in Usage.
type UserSessions struct {
	// User is what the store keeps: the user ID, or its keyed hash when
	// encryption is on.
	User     string `json:"user"`
	Sessions int64  `json:"sessions"`
}

// Usage is what `seshat stats` reports for a PostgreSQL store.
type Usage struct {
	// Sessions is the exact number of live sessions.
	Sessions int64 `json:"sessions"`
	// TopUsers are the users with the most live sessions, most first.
	TopUsers []UserSessions `json:"top_users"`
	// TableBytes and IndexBytes are what the store's tables and their
	// indexes take on disk.
	TableBytes int64 `json:"table_bytes"`
	IndexBytes int64 `json:"index_bytes"`
	// Expired is the number of rows past their expiry that the sweeper has
	// not removed yet (never read as sessions).
	Expired int64 `json:"expired_rows"`
	// SchemaVersion is the migration the database is at.
	SchemaVersion int `json:"schema_version"`
}

// Usage reports the live count, the top users by live sessions (at most
// top), the space the tables take and the rows waiting for the sweeper.
func (s *Store) Usage(ctx context.Context, now time.Time, top int) (Usage, error) {
	var u Usage
	n, err := s.Count(ctx, now)
	if err != nil {
		return u, err
	}
	u.Sessions = n
	err = s.pool.QueryRow(ctx, `SELECT
		coalesce(sum(pg_table_size(to_regclass(t))), 0)::bigint,
		coalesce(sum(pg_indexes_size(to_regclass(t))), 0)::bigint,
		(SELECT count(*) FROM seshat_sessions WHERE expires <= $2),
		(SELECT coalesce(max(version), 0) FROM seshat_schema)
		FROM unnest($1::text[]) AS t`, tables, ms(now)).Scan(&u.TableBytes, &u.IndexBytes, &u.Expired, &u.SchemaVersion)
	if err != nil {
		return u, fail("usage", err)
	}
	if top <= 0 {
		return u, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT user_key, count(*) AS n FROM seshat_sessions
		WHERE user_key IS NOT NULL AND idle > 0 AND expires > $1 GROUP BY user_key ORDER BY n DESC, user_key LIMIT $2`, ms(now), top)
	if err != nil {
		return u, fail("usage", err)
	}
	defer rows.Close()
	for rows.Next() {
		var us UserSessions
		var user []byte
		if err := rows.Scan(&user, &us.Sessions); err != nil {
			return u, fail("usage", err)
		}
		us.User = string(user)
		u.TopUsers = append(u.TopUsers, us)
	}
	if err := rows.Err(); err != nil {
		return u, fail("usage", err)
	}
	return u, nil
}
