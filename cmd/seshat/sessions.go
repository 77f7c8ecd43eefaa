package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat"
)

func newSessions() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "Manage stored sessions",
	}
	cmd.AddCommand(newRekey())
	return cmd
}

func newRekey() *cobra.Command {
	var cfg config
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Re-encrypt every stored value under the first --encryption-key, so older keys can be retired",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			su, err := cfg.build(nil)
			if err != nil {
				return err
			}
			defer su.close()
			if su.opts.Encryption == nil {
				return fmt.Errorf("rekey needs the encryption keys: --encryption-key NEW --encryption-key OLD (or SESHAT_ENCRYPTION_KEYS)")
			}
			m, err := seshat.New(su.opts)
			if err != nil {
				return err
			}
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
		},
	}
	cfg.register(cmd)
	return cmd
}
