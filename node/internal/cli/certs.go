package cli

import (
	"fmt"
	"time"

	"github.com/edgeless-go/edgeless/runtime/transport/certs"
	"github.com/spf13/cobra"
)

func newCertsCommand() *cobra.Command {
	var (
		dir, domain string
		hosts       []string
		validity    time.Duration
		force       bool
	)
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make a CA and certificates for a test domain (mutual TLS)",
		Long: `Make, with Go's crypto (no openssl), a CA and certificates signed by it for
nodes, the orchestrator and the CLI, and a tls_config file per role in
upstream's format (paths relative to the file):

  ca.pem ca.key                         the domain's CA (keep ca.key private)
  node.pem node.key                     tls_config_node.toml
  orchestrator.pem orchestrator.key     tls_config_orchestrator.toml
  cli.pem cli.key                       tls_config_cli.toml (client only)

Every certificate carries --domain-name (what clients check, domain_name in
the files), 127.0.0.1, localhost and each --host, and serves as both server
and client certificate. Use them with edgeless-node/edgeless-inabox
--tls-config DIR/tls_config_node.toml and edgeless --tls-config
DIR/tls_config_cli.toml (or copy one to tls_config.toml in the working
directory, as upstream's binaries expect).

They are for tests and small domains: one CA key on disk, no revocation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := certs.WriteDomain(dir, certs.DomainOptions{
				DomainName: domain, Hosts: hosts, Validity: validity, Overwrite: force,
			})
			if err != nil {
				return fmt.Errorf("certs: %w", err)
			}
			for _, f := range files {
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", f)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "out", "o", "tls", "directory to write into (created if missing)")
	cmd.Flags().StringVar(&domain, "domain-name", "www.example.com", "name in every certificate, checked by every client (upstream's default)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "more IP addresses or DNS names for every certificate (repeat or comma-separate)")
	cmd.Flags().DurationVar(&validity, "validity", 365*24*time.Hour, "how long the certificates are valid")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}
