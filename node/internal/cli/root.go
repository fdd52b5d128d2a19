package cli

import (
	"cmp"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// DefaultControllerURL is where upstream's controller and our in-a-box
// serve WorkflowInstance.
const DefaultControllerURL = "http://127.0.0.1:7001"

// options are the flags shared by every command.
type options struct {
	controllerURL string
	timeout       time.Duration
	tlsConfig     string
	adminToken    string
}

// NewRootCommand returns the edgeless command tree.
func NewRootCommand() *cobra.Command {
	opts := &options{}
	root := &cobra.Command{
		Use:   "edgeless",
		Short: "Deploy and manage EDGELESS workflows",
		Long: `edgeless deploys and manages EDGELESS workflows through a controller's
WorkflowInstance API (our in-a-box orchestrator, or upstream's ε-CON).

Start a single-machine domain in the background with "edgeless up" (stop it
with "edgeless down"), or in the foreground with edgeless-inabox; or run the
whole demo with "edgeless demo".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&opts.controllerURL, "controller-url",
		cmp.Or(os.Getenv("EDGELESS_CONTROLLER_URL"), DefaultControllerURL),
		"URL of the controller's WorkflowInstance API (env EDGELESS_CONTROLLER_URL)")
	root.PersistentFlags().DurationVar(&opts.timeout, "timeout", 5*time.Minute,
		"deadline of each command's requests")
	root.PersistentFlags().StringVar(&opts.tlsConfig, "tls-config", os.Getenv("EDGELESS_TLS_CONFIG"),
		"tls_config.toml (upstream's format) whose [client] section the CLI uses (env EDGELESS_TLS_CONFIG; default: tls_config.toml in the working directory if it exists, else plain text)")
	root.PersistentFlags().StringVar(&opts.adminToken, "admin-token", "",
		"bearer token of the admin APIs (security.admin_token; env EDGELESS_ADMIN_TOKEN)")
	root.AddCommand(newWorkflowCommand(opts), newFunctionCommand(opts), newNodeCommand(opts), newDemoCommand(), newNodeImageCommand(),
		newUpCommand(opts), newDownCommand(opts), newBoxServeCommand(), newCertsCommand())
	return root
}
