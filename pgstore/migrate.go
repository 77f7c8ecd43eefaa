package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the advisory lock Migrate holds, so that
// instances starting at once migrate one after the other.
const migrationLock = 0x736573686174 // "seshat"

// ErrSchema means the database's schema is newer than this release knows,
// or cannot be read.
var ErrSchema = errors.New("pgstore: unknown schema version")

// Migrate creates or upgrades the store's tables to this release's schema,
// idempotently: every migration (migrations/NNN_name.sql) runs once, in
// order, each in a transaction, under an advisory lock so that two
// instances starting at once do not race. It returns the schema version
// reached. A database migrated by a later release (a version this one does
// not know) is refused with ErrSchema.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	steps, err := steps()
	if err != nil {
		return 0, err
	}
	// A database already at this schema needs no lock and no CREATE: a
	// role that may only read and write the store's tables (as Audit
	// advises for serving) opens the store.
	if current, ok, err := installed(ctx, pool); err != nil {
		return 0, err
	} else if ok && current == len(steps) {
		return current, nil
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS seshat_schema (version integer NOT NULL)`); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM seshat_schema`).Scan(&current); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	if current > len(steps) {
		return current, fmt.Errorf("%w: the database is at version %d, this release knows %d", ErrSchema, current, len(steps))
	}
	for v := current + 1; v <= len(steps); v++ {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return v - 1, fmt.Errorf("pgstore: migrate to %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, steps[v-1]); err != nil {
			tx.Rollback(ctx)
			return v - 1, fmt.Errorf("pgstore: migrate to %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO seshat_schema (version) VALUES ($1)`, v); err != nil {
			tx.Rollback(ctx)
			return v - 1, fmt.Errorf("pgstore: migrate to %d: %w", v, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return v - 1, fmt.Errorf("pgstore: migrate to %d: %w", v, err)
		}
	}
	return len(steps), nil
}

// installed returns the schema version the database is at, and whether
// it has one (the version table exists), reading only.
func installed(ctx context.Context, pool *pgxpool.Pool) (int, bool, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('seshat_schema') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, false, wrapMigrate(err)
	}
	var v int
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM seshat_schema`).Scan(&v); err != nil {
		return 0, false, wrapMigrate(err)
	}
	return v, true, nil
}

// wrapMigrate gives err Migrate's context; nil stays nil.
func wrapMigrate(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("pgstore: migrate: %w", err)
}

// steps returns the migrations in order; their file names number them
// 001, 002, … without gaps.
func steps() ([]string, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || n != i+1 {
			return nil, fmt.Errorf("pgstore: migration %s is not number %03d", base, i+1)
		}
		b, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out[i] = string(b)
	}
	return out, nil
}
