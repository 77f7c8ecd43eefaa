package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat/pgstore"
)

// migration is what migrate reports (--json): the store and, on
// PostgreSQL, the schema version reached.
type migration struct {
	Store         string `json:"store"`
	SchemaVersion int    `json:"schema_version,omitempty"`
	Message       string `json:"message"`
}

// newMigrate is the migrate command.
func newMigrate() *cobra.Command {
	var (
		sf     storeFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the PostgreSQL store's tables; Redis and memory have nothing to migrate",
		Long: "Create or upgrade the PostgreSQL store's tables to this release's schema and print the version\n" +
			"reached. It is idempotent, and safe while servers run (they migrate on start too, one at a\n" +
			"time). A database migrated by a newer release is refused: upgrade seshat instead.\n" +
			"Redis and the in-memory store keep no schema: there is nothing to migrate.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, kind, err := sf.resolve()
			if err != nil {
				return err
			}
			m := migration{Store: string(kind), Message: fmt.Sprintf("nothing to migrate: %s keeps no schema", kind)}
			if kind == storePostgres {
				if m.SchemaVersion, err = migrate(cmd.Context(), u); err != nil {
					return err
				}
				m.Message = fmt.Sprintf("schema at version %d", m.SchemaVersion)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), m)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), m.Message)
			return err
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: store, schema_version, message")
	return cmd
}

// migrate runs pgstore.Migrate on the database a URL names and returns
// the schema version reached.
func migrate(ctx context.Context, u string) (int, error) {
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL: %w", err)
	}
	defer pool.Close()
	v, err := pgstore.Migrate(ctx, pool)
	if errors.Is(err, pgstore.ErrSchema) {
		return v, fmt.Errorf("%w: this seshat is older than the database's schema; upgrade seshat (never downgrade a migrated database)", err)
	}
	return v, err
}
