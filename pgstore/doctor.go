package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/seshat-go/seshat/store"
)

// Audit checks the database the store uses for what matters to sessions:
// the server's version, TLS on the connection, the role's privileges
// (what the store needs, and no superuser), the schema version,
// autovacuum on the sessions tables, dead rows, table and index sizes,
// synchronous replication and the round-trip latency.
func (s *Store) Audit(ctx context.Context) ([]store.Finding, error) {
	var out []store.Finding
	add := func(check string, sev store.Severity, fix, format string, args ...any) {
		out = append(out, store.Finding{Check: check, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix})
	}

	start := time.Now()
	var version int
	var versionText string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version')`).Scan(&version, &versionText); err != nil {
		return nil, fail("audit", err)
	}
	rtt := time.Since(start)
	if version < 130000 {
		add("version", store.SeverityWarning, "upgrade to PostgreSQL 13 or later", "PostgreSQL %s: the store is tested on 15", versionText)
	} else {
		add("version", store.SeverityOK, "", "PostgreSQL %s", versionText)
	}

	var ssl bool
	var sslVersion string
	if err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false),
		coalesce((SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()), '')`).Scan(&ssl, &sslVersion); err != nil {
		return nil, fail("audit", err)
	}
	var host string
	s.pool.QueryRow(ctx, `SELECT coalesce(host(inet_server_addr()), '')`).Scan(&host)
	switch {
	case ssl:
		add("tls", store.SeverityOK, "", "the connection uses %s", sslVersion)
	case host == "" || host == "127.0.0.1" || host == "::1":
		add("tls", store.SeverityInfo, "", "no TLS on a local connection")
	default:
		add("tls", store.SeverityWarning, "connect with sslmode=verify-full (and a server certificate)", "the connection to %s is not encrypted: values and keys cross the network in the clear", host)
	}

	var super bool
	var role string
	if err := s.pool.QueryRow(ctx, `SELECT rolsuper, rolname FROM pg_roles WHERE rolname = current_user`).Scan(&super, &role); err != nil {
		return nil, fail("audit", err)
	}
	if super {
		add("role", store.SeverityWarning, "run the store as a role that owns only its tables (GRANT the privileges seshat migrate needs)", "role %q is a superuser", role)
	} else {
		add("role", store.SeverityOK, "", "role %q is not a superuser", role)
	}
	rows, err := s.pool.Query(ctx, `SELECT t, p FROM unnest($1::text[]) AS t, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p
		WHERE to_regclass(t) IS NULL OR NOT has_table_privilege(t, p)`, tables)
	if err != nil {
		return nil, fail("audit", err)
	}
	var missing []string
	for rows.Next() {
		var t, p string
		if err := rows.Scan(&t, &p); err != nil {
			rows.Close()
			return nil, fail("audit", err)
		}
		missing = append(missing, p+" on "+t)
	}
	rows.Close()
	if len(missing) > 0 {
		add("privileges", store.SeveritySevere, "run seshat migrate as the table owner, or GRANT these to "+role, "role %q lacks %s", role, strings.Join(missing, ", "))
	} else {
		add("privileges", store.SeverityOK, "", "role %q can read and write every store table", role)
	}

	var schema int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM seshat_schema`).Scan(&schema); err != nil {
		return nil, fail("audit", err)
	}
	if known, _ := steps(); schema != len(known) {
		add("schema", store.SeveritySevere, "run seshat migrate with this release", "schema version %d, this release uses %d", schema, len(known))
	} else {
		add("schema", store.SeverityOK, "", "schema version %d", schema)
	}

	var autovacuum string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')`).Scan(&autovacuum); err != nil {
		return nil, fail("audit", err)
	}
	var off []string
	rows, err = s.pool.Query(ctx, `SELECT c.relname FROM pg_class c WHERE c.relname = ANY ($1) AND c.relkind = 'r'
		AND 'autovacuum_enabled=false' = ANY (coalesce(c.reloptions, '{}'))`, tables)
	if err != nil {
		return nil, fail("audit", err)
	}
	for rows.Next() {
		var t string
		rows.Scan(&t)
		off = append(off, t)
	}
	rows.Close()
	switch {
	case autovacuum != "on":
		add("autovacuum", store.SeveritySevere, "set autovacuum = on", "autovacuum is off: the rows every commit and sweep leave dead are never reclaimed, and the tables grow without bound")
	case len(off) > 0:
		add("autovacuum", store.SeveritySevere, "ALTER TABLE … RESET (autovacuum_enabled)", "autovacuum is disabled on %s", strings.Join(off, ", "))
	default:
		add("autovacuum", store.SeverityOK, "", "autovacuum is on for the store's tables")
	}

	var live, dead, tableBytes, indexBytes int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(n_live_tup), 0)::bigint, coalesce(sum(n_dead_tup), 0)::bigint,
		coalesce(sum(pg_table_size(relid)), 0)::bigint, coalesce(sum(pg_indexes_size(relid)), 0)::bigint
		FROM pg_stat_user_tables WHERE relname = ANY ($1)`, tables).Scan(&live, &dead, &tableBytes, &indexBytes); err != nil {
		return nil, fail("audit", err)
	}
	if dead > 10000 && dead > live {
		add("dead rows", store.SeverityWarning, "check that autovacuum keeps up (pg_stat_user_tables.last_autovacuum), or VACUUM the tables", "%d dead rows against %d live ones", dead, live)
	} else {
		add("dead rows", store.SeverityOK, "", "%d dead rows, %d live", dead, live)
	}
	add("size", store.SeverityInfo, "", "tables %d bytes, indexes %d bytes", tableBytes, indexBytes)

	var syncNames, syncCommit string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit')`).Scan(&syncNames, &syncCommit); err != nil {
		return nil, fail("audit", err)
	}
	if syncNames == "" {
		add("replication", store.SeverityInfo, "for writes that survive losing the primary, set synchronous_standby_names and synchronous_commit = remote_apply (the README's PostgreSQL section)", "no synchronous standby: a commit acknowledged just before the primary is lost may be missing after a failover")
	} else {
		add("replication", store.SeverityOK, "", "synchronous standbys %q, synchronous_commit = %s", syncNames, syncCommit)
	}

	if rtt > 5*time.Millisecond {
		add("latency", store.SeverityWarning, "put the application next to the database", "a round trip took %s: every request with a session waits for one or two", rtt.Round(time.Microsecond))
	} else {
		add("latency", store.SeverityOK, "", "a round trip took %s", rtt.Round(time.Microsecond))
	}
	return out, nil
}
