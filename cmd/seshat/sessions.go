package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat"
)

func newSessions() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List, inspect, export, revoke, erase and re-encrypt stored sessions",
		Long: "List, inspect, export, revoke, erase and re-encrypt stored sessions, through the same API requests use,\n" +
			"so the guarantees hold: a revoked session cannot come back, an edit loses nothing.\n" +
			"A handle identifies a session in the store; it cannot be used as a cookie.",
	}
	cmd.AddCommand(newList(), newShow(), newExport(), newRevoke(), newErase(), newRekey())
	return cmd
}

// withManager runs fn with a manager for an administration command and
// closes the store afterwards.
func withManager(cmd *cobra.Command, cfg *config, fn func(*seshat.Manager) error) error {
	m, closeFn, err := adminManager(cmd.Context(), cmd.CommandPath(), cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	return fn(m)
}

// adminManager builds a manager for an administration command, on an
// external store (Redis or PostgreSQL) that is reachable.
func adminManager(ctx context.Context, command string, cfg *config) (*seshat.Manager, func() error, error) {
	if _, _, err := externalStore(cfg.store, command); err != nil {
		return nil, nil, err
	}
	su, err := cfg.build(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	m, err := seshat.New(su.opts)
	if err != nil {
		su.close()
		return nil, nil, err
	}
	// Fail fast and clearly when the store is not there.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := su.health(ctx); err != nil {
		su.close()
		return nil, nil, fmt.Errorf("cannot reach %s: %w", su.kind, err)
	}
	return m, su.close, nil
}

func newList() *cobra.Command {
	var (
		cfg    config
		user   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list [--user U]",
		Short: "List live sessions, all or a user's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withManager(cmd, &cfg, func(m *seshat.Manager) error {
				var all []seshat.SessionInfo
				var err error
				if user != "" {
					all, err = m.UserSessions(cmd.Context(), user)
				} else {
					err = m.Sessions(cmd.Context(), func(b []seshat.SessionInfo) error {
						all = append(all, b...)
						return nil
					})
					sort.Slice(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
				}
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					if all == nil {
						all = []seshat.SessionInfo{}
					}
					return writeJSON(out, all)
				}
				return printSessions(out, all)
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "only this user's sessions")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, one object per session")
	cfg.register(cmd)
	return cmd
}

func newShow() *cobra.Command {
	var cfg config
	cmd := &cobra.Command{
		Use:   "show HANDLE",
		Short: "Show a session's metadata and values as JSON (decrypted when the keys are given)",
		Args:  cobra.MatchAll(cobra.ExactArgs(1), handleArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withManager(cmd, &cfg, func(m *seshat.Manager) error {
				snap, err := m.Inspect(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return writeJSON(cmd.OutOrStdout(), snap)
			})
		},
	}
	cmd.SetFlagErrorFunc(handleFlagError)
	cfg.register(cmd)
	return cmd
}

func newRevoke() *cobra.Command {
	var (
		cfg  config
		user string
	)
	cmd := &cobra.Command{
		Use:   "revoke HANDLE | --user U",
		Short: "End one session, or every session of a user (log out everywhere)",
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (user != "") {
				return fmt.Errorf("give either one HANDLE or --user U")
			}
			return handleArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return withManager(cmd, &cfg, func(m *seshat.Manager) error {
				ctx := cmd.Context()
				if user != "" {
					n, err := m.RevokeUser(ctx, user)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "revoked %d sessions of %s\n", n, safe(user))
					return nil
				}
				if _, err := m.Inspect(ctx, args[0]); err != nil {
					return err // unknown handle, or the store unreachable
				}
				if err := m.Revoke(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", safe(args[0]))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "revoke every session of this user")
	cmd.SetFlagErrorFunc(handleFlagError)
	cfg.register(cmd)
	return cmd
}

func newRekey() *cobra.Command {
	var cfg config
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Re-encrypt every stored value under the first --encryption-key, so older keys can be retired",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withManager(cmd, &cfg, func(m *seshat.Manager) error {
				st, err := m.Rekey(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "sessions: %d, re-encrypted: %d values in %d sessions, undecryptable: %d\n",
					st.Sessions, st.Values, st.Changed, st.Failed)
				if st.Failed > 0 {
					return fmt.Errorf("%d values did not decrypt with any key given", st.Failed)
				}
				return nil
			})
		},
	}
	cfg.register(cmd)
	return cmd
}

// printSessions prints sessions as a table. Handles and users go through
// safe: a user name holding a newline or a tab would otherwise forge a row
// or a column, and an escape sequence would run in the terminal.
func printSessions(w io.Writer, all []seshat.SessionInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDLE\tUSER\tCREATED\tLAST SEEN\tEXPIRES\tNETWORK\tDEVICE")
	for _, s := range all {
		var network, device string
		if s.Device != nil {
			network, device = s.Device.Network, s.Device.UserAgent
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(s.Handle), safe(s.User), s.Created.Format(time.RFC3339),
			s.LastSeen.Format(time.RFC3339), s.ExpiresAt.Format(time.RFC3339), safe(network), safe(device))
	}
	return tw.Flush()
}

// maxHandleLen bounds a handle given on the command line; seshat's own
// are 16 characters.
const maxHandleLen = 64

// handleArgs checks that each argument looks like a handle: base64url
// characters only. Anything else cannot name a session, and could name
// another kind of key (a bucket's count hash ends in "#").
// handleFlagError explains a flag error that a handle starting with '-'
// (one in 64 handles) causes: the flag parser takes it for flags.
func handleFlagError(_ *cobra.Command, err error) error {
	if strings.HasPrefix(err.Error(), "unknown") {
		return fmt.Errorf("%w (a handle that starts with '-' goes after --, as in: seshat sessions show -- -2JeE…)", err)
	}
	return err
}

func handleArgs(_ *cobra.Command, args []string) error {
	for _, h := range args {
		if err := checkHandle(h); err != nil {
			return err
		}
	}
	return nil
}

func checkHandle(h string) error {
	ok := h != "" && len(h) <= maxHandleLen
	for i := 0; ok && i < len(h); i++ {
		c := h[i]
		ok = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return fmt.Errorf("not a handle: %s (a handle is 1 to %d characters of A-Z a-z 0-9 - _, as sessions list prints it)", safe(h), maxHandleLen)
	}
	return nil
}

func newExport() *cobra.Command {
	var (
		cfg  config
		user string
	)
	cmd := &cobra.Command{
		Use:   "export --user U",
		Short: "Print every session of a user with its values, as JSON (a subject access request)",
		Long: "Print every live session of a user as one JSON object: the sessions' metadata, devices and values,\n" +
			"decoded, and decrypted when the encryption keys are given. Nothing of other users is printed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return fmt.Errorf("give --user U")
			}
			return withManager(cmd, &cfg, func(m *seshat.Manager) error {
				ex, err := m.ExportUser(cmd.Context(), user)
				if err != nil {
					return err
				}
				return writeJSON(cmd.OutOrStdout(), ex)
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user whose sessions to export")
	cfg.register(cmd)
	return cmd
}

func newErase() *cobra.Command {
	var (
		cfg  config
		user string
	)
	cmd := &cobra.Command{
		Use:   "erase --user U",
		Short: "End every session of a user and remove the user's entries from the event log (a request to be forgotten)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return fmt.Errorf("give --user U")
			}
			return withManager(cmd, &cfg, func(m *seshat.Manager) error {
				st, err := m.EraseUser(cmd.Context(), user)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "erased %s: %d sessions ended, %d events removed\n", safe(user), st.Sessions, st.Events)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user to erase")
	cfg.register(cmd)
	return cmd
}
