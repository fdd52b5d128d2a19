// Command edgeless-inabox runs an EDGELESS domain in one process, as
// upstream's edgeless_inabox: the orchestrator (WorkflowInstance for
// clients, NodeRegistration for nodes) and a node with the container
// runtime. It takes upstream's flags:
//
//	edgeless-inabox -t inabox.toml    # write a commented default config
//	edgeless-inabox                   # run (inabox.toml if it exists, else defaults)
//	edgeless-inabox -c box.toml       # run with that config
//
// SIGTERM or SIGINT stops every instance and removes its container before
// the process exits; a second signal exits at once. Started by `go run`, it
// also shuts down when the go command exits. To run it in the background,
// prefer `edgeless up` and `edgeless down`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/edgeless-go/edgeless/node/internal/process"
	"github.com/edgeless-go/edgeless/node/internal/registration"
	"github.com/edgeless-go/edgeless/node/internal/state"
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
		fmt.Fprintln(os.Stderr, "edgeless-inabox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgeless-inabox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configFile, template, logLevel, logFormat, tlsConfig string
	var showVersion bool
	fs.StringVar(&configFile, "c", "", "configuration file (TOML; default "+inabox.DefaultConfigFile+" if it exists, else built-in defaults)")
	fs.StringVar(&configFile, "config-file", "", "configuration file (TOML)")
	fs.StringVar(&template, "t", "", "write a commented default configuration to this path and exit")
	fs.StringVar(&template, "template", "", "write a commented default configuration to this path and exit")
	fs.StringVar(&tlsConfig, "tls-config", "", "tls_config.toml (upstream's format) for TLS on every server and client but the guest API; overrides security.tls_config (default: tls_config.toml in the working directory if it exists)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if showVersion {
		fmt.Fprintln(stdout, "edgeless-inabox", process.Version(version, commit))
		return nil
	}
	if template != "" {
		if err := inabox.WriteTemplate(template, inabox.Default(), registration.Detect(".")); err != nil {
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
	cfg, usedDefaults, err := inabox.LoadOrDefault(configFile)
	if err != nil {
		return err
	}
	if usedDefaults {
		log.Info("no " + inabox.DefaultConfigFile + ": using the defaults (write them with -t " + inabox.DefaultConfigFile + ")")
		log.Info("node id", "id", cfg.Node.General.NodeID, "kept_in", filepath.Join(cfg.Node.General.StateDir, state.NodeIDFile))
	}
	if tlsConfig != "" {
		cfg.Node.Security.TLSConfig = tlsConfig
	}
	ctx, stop := process.SignalContext(ctx, log)
	defer stop()
	if process.ParentIsGoRun() {
		// `go run ./node/cmd/edgeless-inabox &` then `kill %1` outside an
		// interactive shell ends only the go command: shut down with it
		// rather than leave the box and its containers running.
		var cancel context.CancelFunc
		ctx, cancel = process.FollowParent(ctx, log, time.Second)
		defer cancel()
	}
	return inabox.Run(ctx, cfg, log)
}
