// Command seshat runs the seshat demo server and manages sessions in a
// store.
//
//	seshat serve --addr 127.0.0.1:3000 [--redis URL]
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "seshat:", err)
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
	root.AddCommand(newServe(), newSessions())
	return root
}
