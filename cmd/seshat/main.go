// Command seshat runs the seshat demo server, manages the sessions in a
// store, migrates a PostgreSQL store's schema, and reports on and audits
// the Redis or PostgreSQL behind them.
//
// --store names the store: memory (the default), redis://, rediss://,
// redis+sentinel://, redis+cluster://, postgres:// or postgresql://; its
// environment form is SESHAT_STORE. --redis and REDIS_URL still name a
// Redis store.
//
//	seshat serve --addr 127.0.0.1:3000 [--store URL]
//	seshat sessions list|show|revoke --store URL
//	seshat sessions rekey --store URL --encryption-key NEW --encryption-key OLD --hash-key K
//	seshat migrate --store URL [--json]
//	seshat stats --store URL [--json]
//	seshat doctor --store URL [--json]
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		if err != errSilent {
			// Errors may quote stored data or arguments: escaped like output.
			fmt.Fprintln(os.Stderr, "seshat:", safe(err.Error()))
		}
		os.Exit(1)
	}
}

// newRoot is the seshat command and its subcommands.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "seshat",
		Short: "Session management for Go web services: demo server and session tools",
		Long: "Session management for Go web services: demo server and session tools.\n" +
			"--store (or SESHAT_STORE) names the store: memory, redis://, rediss://, redis+sentinel://,\n" +
			"redis+cluster://, postgres:// or postgresql://; --redis (or REDIS_URL) a Redis one.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newSessions(), newStats(), newDoctor(), newMigrate())
	return root
}
