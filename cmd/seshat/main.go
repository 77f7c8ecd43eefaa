// Command seshat runs the seshat demo server, manages the sessions in a
// store, and reports on and audits the Redis behind them.
//
//	seshat serve --addr 127.0.0.1:3000 [--redis URL]
//	seshat sessions rekey --redis URL --encryption-key NEW --encryption-key OLD --hash-key K
//	seshat stats --redis URL [--json]
//	seshat doctor --redis URL [--json]
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

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "seshat",
		Short:         "Session management for Go web services: demo server and session tools",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newSessions(), newStats(), newDoctor(), newMigrate())
	return root
}
