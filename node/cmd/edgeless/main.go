// Command edgeless deploys and manages EDGELESS workflows through a
// controller's WorkflowInstance API (edgeless-inabox's, or upstream's
// ε-CON), starts and stops a background in-a-box, and runs the
// single-machine demo:
//
//	edgeless up                       # in-a-box in the background
//	edgeless workflow validate examples/workflow.json
//	edgeless workflow start examples/workflow.json
//	edgeless workflow list
//	edgeless workflow inspect ID
//	edgeless function call ID sink count
//	edgeless function logs --telemetry -f ID sink
//	edgeless workflow stop ID
//	edgeless down                     # stop it; its containers are removed
//	edgeless demo
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeless-go/edgeless/node/internal/cli"
	"github.com/edgeless-go/edgeless/node/internal/process"
)

// version and commit are set at build time with
// -ldflags "-X main.version=... -X main.commit=..." (task release).
var version, commit string

func main() {
	// grpc-go's warnings and errors go to the slog logger of the command
	// (edgeless up's box), rate-limited, not to stderr in grpc-go's own.
	process.InstallGRPCLogger()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "edgeless:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := cli.NewRootCommand()
	root.Version = process.Version(version, commit)
	return root.ExecuteContext(ctx)
}
