package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/pgstore"
	"github.com/seshat-go/seshat/redisstore"
	"github.com/seshat-go/seshat/store"
)

// errSilent makes the command exit 1 without printing an error (the
// output already said why).
var errSilent = errors.New("")

// writeJSON prints v as indented JSON, terminal-safe and exact (see
// jsonSafe).
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(jsonSafe(b), '\n'))
	return err
}

// newStats is the stats command.
func newStats() *cobra.Command {
	var (
		cfg    config
		asJSON bool
		top    int
	)
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Report live sessions, the users with the most sessions, and the store's memory or disk use",
		Long: "Report live sessions and the users with the most sessions; for Redis, its memory, limit and\n" +
			"evictions; for PostgreSQL, the tables' and indexes' size, expired rows not yet swept and the\n" +
			"schema version. The store names users by a keyed hash; give the application's --hash-key\n" +
			"(and --encryption-key) to see their IDs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, kind, err := externalStore(cfg.store, cmd.CommandPath())
			if err != nil {
				return err
			}
			usage, err := storeUsage(cmd.Context(), u, kind, top)
			if err != nil {
				return err
			}
			if err := nameUsers(cmd, &cfg, usage); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, usage)
			}
			switch usage := usage.(type) {
			case pgstore.Usage:
				return printPGUsage(out, usage)
			case redisstore.Usage:
				return printUsage(out, usage)
			}
			return nil
		},
	}
	cfg.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&top, "top", 10, "how many users with the most sessions to show")
	return cmd
}

// nameUsers replaces the user keys of a usage report with the user IDs
// their sessions keep sealed, where this command's keys open them.
func nameUsers(cmd *cobra.Command, cfg *config, usage any) error {
	var keys []*string
	switch u := usage.(type) {
	case redisstore.Usage:
		for i := range u.TopUsers {
			keys = append(keys, &u.TopUsers[i].User)
		}
	case pgstore.Usage:
		for i := range u.TopUsers {
			keys = append(keys, &u.TopUsers[i].User)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return withManager(cmd, cfg, func(m *seshat.Manager) error {
		for _, k := range keys {
			if name, err := m.UserOf(cmd.Context(), *k); err == nil && name != "" {
				*k = name
			}
		}
		return nil
	})
}

// storeUsage returns the store's own usage report: a redisstore.Usage or
// a pgstore.Usage.
func storeUsage(ctx context.Context, u string, kind storeKind, top int) (any, error) {
	if kind == storePostgres {
		st, err := openPostgres(ctx, u)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		return st.Usage(ctx, time.Now(), top)
	}
	st, err := redisstore.Open(u, redisstore.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Usage(ctx, time.Now(), top)
}

// openPostgres opens a PostgreSQL store for a report: no sweeper, and no
// change to the schema (doctor reports its version; seshat migrate
// changes it).
func openPostgres(ctx context.Context, u string) (*pgstore.Store, error) {
	st, err := pgstore.Open(ctx, u, pgstore.Options{SweepEvery: -1, SkipMigrate: true})
	if err != nil {
		return nil, fmt.Errorf("cannot open the PostgreSQL store: %w", err)
	}
	return st, nil
}

// newDoctor is the doctor command.
func newDoctor() *cobra.Command {
	var (
		sf     storeFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Audit the Redis or PostgreSQL seshat uses: access, TLS, limits, upkeep, latency",
		Long: "Audit the store seshat uses. On Redis: authentication, TLS, protected mode, the memory limit,\n" +
			"the eviction policy, persistence, version and latency. On PostgreSQL: version, TLS, the role\n" +
			"(superuser) and its privileges, the schema version, autovacuum, dead rows, sizes, synchronous\n" +
			"replication and latency. Each finding has a severity (ok, info, warning, severe) and a fix;\n" +
			"the exit status is 1 when any finding is severe.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, kind, err := externalStore(sf, cmd.CommandPath())
			if err != nil {
				return err
			}
			findings, err := audit(cmd.Context(), u, kind)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			severe := store.AnySevere(findings)
			if asJSON {
				err = writeJSON(out, map[string]any{"findings": findings, "severe": severe})
			} else {
				err = printFindings(out, findings)
			}
			if err != nil {
				return err
			}
			if severe {
				return errSilent
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// audit runs the store's own audit.
func audit(ctx context.Context, u string, kind storeKind) ([]store.Finding, error) {
	if kind == storePostgres {
		st, err := openPostgres(ctx, u)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		return st.Audit(ctx)
	}
	return redisstore.Audit(ctx, u)
}

// printUsage prints stats as a table; every string from Redis goes
// through safe.
func printUsage(w io.Writer, usage redisstore.Usage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "live sessions\t%d\n", usage.Sessions)
	limit := "none"
	if usage.MaxMemory > 0 {
		limit = fmt.Sprintf("%d bytes (%.1f%% used)", usage.MaxMemory, 100*float64(usage.UsedMemory)/float64(usage.MaxMemory))
	}
	fmt.Fprintf(tw, "redis memory used\t%d bytes\n", usage.UsedMemory)
	fmt.Fprintf(tw, "redis memory limit\t%s\n", limit)
	fmt.Fprintf(tw, "eviction policy\t%s (%d keys evicted)\n", safe(usage.EvictionPolicy), usage.EvictedKeys)
	fmt.Fprintf(tw, "average session\t%d bytes\n", usage.AvgSessionBytes)
	for _, k := range usage.ForeignKeys {
		fmt.Fprintf(tw, "foreign key (not counted)\t%s\n", safe(k))
	}
	for _, tu := range usage.TopUsers {
		fmt.Fprintf(tw, "user %s\t%d sessions\n", safe(tu.User), tu.Sessions)
	}
	return tw.Flush()
}

// printFindings prints doctor's findings as a table; every string goes
// through safe (messages quote what the store reported). A fix is shown
// for every finding that is not ok.
func printFindings(w io.Writer, findings []store.Finding) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(string(f.Severity)), safe(f.Check), safe(f.Message))
		if f.Fix != "" && f.Severity != store.SeverityOK {
			fmt.Fprintf(tw, "\t\tfix: %s\n", safe(f.Fix))
		}
	}
	return tw.Flush()
}

// printPGUsage prints a PostgreSQL store's stats as a table; user names
// go through safe.
func printPGUsage(w io.Writer, usage pgstore.Usage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "live sessions\t%d\n", usage.Sessions)
	fmt.Fprintf(tw, "table size\t%d bytes\n", usage.TableBytes)
	fmt.Fprintf(tw, "index size\t%d bytes\n", usage.IndexBytes)
	fmt.Fprintf(tw, "expired rows not yet swept\t%d\n", usage.Expired)
	fmt.Fprintf(tw, "schema version\t%d\n", usage.SchemaVersion)
	for _, tu := range usage.TopUsers {
		fmt.Fprintf(tw, "user %s\t%d sessions\n", safe(tu.User), tu.Sessions)
	}
	return tw.Flush()
}
