// Command edgeless-node is an EDGELESS node: it registers with an
// orchestrator, serves the agent API and the data plane, and runs functions
// as Docker containers. It is wire-compatible with upstream's
// edgeless_node_d and takes the same flags:
//
//	edgeless-node -t node.toml     # write a commented default config
//	edgeless-node -c node.toml     # run
//
// SIGTERM or SIGINT stops every instance and removes its container before
// the node exits; a second signal exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/daemon"
	"github.com/edgeless-go/edgeless/node/internal/process"
	"github.com/edgeless-go/edgeless/node/internal/registration"
)

// version and commit are set at build time with
// -ldflags "-X main.version=... -X main.commit=..." (task release).
var version, commit string

func main() {
	// grpc-go's warnings and errors go to the logger run builds, in its
	// format and rate-limited, not to stderr in grpc-go's own.
	process.InstallGRPCLogger()
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h/--help: the usage was printed
		}
		fmt.Fprintln(os.Stderr, "edgeless-node:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgeless-node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile, template, logLevel, logFormat   string
		tlsConfig                                   string
		showVersion, availableResources, outputJSON bool
	)
	fs.StringVar(&configFile, "c", "node.toml", "configuration file (TOML)")
	fs.StringVar(&configFile, "config-file", "node.toml", "configuration file (TOML)")
	fs.StringVar(&template, "t", "", "write a commented default configuration to this path and exit")
	fs.StringVar(&template, "template", "", "write a commented default configuration to this path and exit")
	fs.StringVar(&tlsConfig, "tls-config", "", "tls_config.toml (upstream's format) for TLS on every server and client but the guest API; overrides security.tls_config (default: tls_config.toml in the working directory if it exists)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	fs.BoolVar(&availableResources, "available-resources", false, "print the resource classes this node can offer and exit")
	fs.BoolVar(&outputJSON, "output-json", false, "with --available-resources, print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if showVersion {
		fmt.Fprintln(stdout, "edgeless-node", versionString())
		return nil
	}
	if availableResources {
		return printAvailableResources(stdout, outputJSON)
	}
	if template != "" {
		if err := config.WriteTemplate(template, config.Default(), registration.Detect(".")); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", template)
		return nil
	}

	log, err := process.NewLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	process.SetGRPCLogger(log)
	if err := config.CheckEnv(os.Environ()); err != nil {
		return err
	}
	cfg, fromEnv, err := config.LoadWithEnv(configFile, os.LookupEnv)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (write a commented default configuration with: edgeless-node -t %s)", err, configFile)
	}
	if err != nil {
		return err
	}
	if tlsConfig != "" {
		cfg.Security.TLSConfig = tlsConfig
	}
	ctx, stop := process.SignalContext(ctx, log)
	defer stop()
	log.Info("edgeless-node starting", "version", versionString(), "config", configFile,
		"node_id", cfg.General.NodeID, "from_env", strings.Join(fromEnv, ","),
		"function_output", "edgeless function logs [--telemetry] WORKFLOW FUNCTION (or --log-level debug)")
	return daemon.Run(ctx, cfg, log)
}

func versionString() string { return process.Version(version, commit) }
