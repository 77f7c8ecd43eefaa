package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/pgstore/pgtest"
)

func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Instances that start at once migrate one after the other, each
// migration runs once, running it again changes nothing, and a schema
// newer than this release is refused.
func TestMigrate(t *testing.T) {
	srv := pgtest.Start(t)
	var wg sync.WaitGroup
	versions := make([]int, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() { versions[i], errs[i] = pgstore.Migrate(t.Context(), pool(t, srv.URL())) })
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil || versions[i] != versions[0] || versions[i] < 1 {
			t.Fatalf("concurrent Migrate %d: version %d, %v", i, versions[i], errs[i])
		}
	}
	p := pool(t, srv.URL())
	var rows int
	if err := p.QueryRow(t.Context(), `SELECT count(*) FROM seshat_schema`).Scan(&rows); err != nil || rows != versions[0] {
		t.Fatalf("seshat_schema has %d rows (%v); want one per migration, %d", rows, err, versions[0])
	}
	if v, err := pgstore.Migrate(t.Context(), p); err != nil || v != versions[0] {
		t.Fatalf("Migrate again: %d, %v", v, err)
	}
	for _, table := range []string{"seshat_sessions", "seshat_values", "seshat_events"} {
		if _, err := p.Exec(t.Context(), "SELECT 1 FROM "+table+" LIMIT 1"); err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
	}
	if _, err := p.Exec(t.Context(), `INSERT INTO seshat_schema (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Migrate(t.Context(), p); !errors.Is(err, pgstore.ErrSchema) {
		t.Fatalf("Migrate on a schema from a later release: %v; want ErrSchema", err)
	}
}

// A role that may only read and write the store's tables (no CREATE on
// the schema) opens a store that is already migrated: Migrate then only
// reads.
func TestMigrateAsReadWriteRole(t *testing.T) {
	srv := pgtest.Start(t)
	owner := pool(t, srv.URL())
	want, err := pgstore.Migrate(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{`CREATE ROLE app LOGIN`, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app`,
		`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app`} {
		if _, err := owner.Exec(t.Context(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	app := pool(t, strings.Replace(srv.URL(), "seshat@", "app@", 1))
	if v, err := pgstore.Migrate(t.Context(), app); err != nil || v != want {
		t.Fatalf("Migrate as a role without CREATE on a migrated database: %d, %v; want %d", v, err, want)
	}
}
