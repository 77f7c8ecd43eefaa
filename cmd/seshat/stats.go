package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat/redisstore"
)

// errSilent makes the command exit 1 without printing an error (the
// output already said why).
var errSilent = errors.New("")

func redisURL(flag string) (string, error) {
	if flag == "" {
		flag = os.Getenv("REDIS_URL")
	}
	if flag == "" {
		return "", errors.New("--redis URL (or REDIS_URL) is required")
	}
	return flag, nil
}

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

func newStats() *cobra.Command {
	var (
		url    string
		asJSON bool
		top    int
	)
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Report live sessions, the users with the most sessions, and Redis memory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := redisURL(url)
			if err != nil {
				return err
			}
			st, err := redisstore.Open(u, redisstore.Options{})
			if err != nil {
				return err
			}
			defer st.Close()
			usage, err := st.Usage(cmd.Context(), time.Now(), top)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, usage)
			}
			return printUsage(out, usage)
		},
	}
	cmd.Flags().StringVar(&url, "redis", "", "Redis URL (default $REDIS_URL)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&top, "top", 10, "how many users with the most sessions to show")
	return cmd
}

func newDoctor() *cobra.Command {
	var (
		url    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Audit the Redis seshat uses: auth, TLS, memory limit, eviction policy, persistence, latency",
		Long: "Audit the Redis seshat uses. Each finding has a severity (ok, info, warning, severe) and a fix;\n" +
			"the exit status is 1 when any finding is severe.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := redisURL(url)
			if err != nil {
				return err
			}
			findings, err := redisstore.Audit(cmd.Context(), u)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := writeJSON(out, map[string]any{"findings": findings, "severe": redisstore.AnySevere(findings)}); err != nil {
					return err
				}
			} else if err := printFindings(out, findings); err != nil {
				return err
			}
			if redisstore.AnySevere(findings) {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "redis", "", "Redis URL (default $REDIS_URL)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
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
// through safe (messages quote what Redis reported).
func printFindings(w io.Writer, findings []redisstore.Finding) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(string(f.Severity)), safe(f.Check), safe(f.Message))
		if f.Fix != "" && f.Severity != redisstore.SeverityOK {
			fmt.Fprintf(tw, "\t\tfix: %s\n", safe(f.Fix))
		}
	}
	return tw.Flush()
}
