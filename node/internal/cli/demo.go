package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// demoOptions configure the demo.
type demoOptions struct {
	examples  string
	duration  time.Duration
	verbose   bool
	noBuild   bool
	buildOnly bool
}

func newDemoCommand() *cobra.Command {
	opts := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build the example images, run them in-a-box, watch events, clean up",
		Long: `Run the single-machine demo, needing only Go and Docker:

  1. build the example functions (examples/: ticker, transformer, sink, web)
     and their images through the Docker Engine API (FROM scratch, no
     registry);
  2. start an in-a-box domain (orchestrator and node) in this process, on free
     ports of 127.0.0.1 and of the Docker bridge gateway;
  3. deploy examples/workflow-http.json (the functions, an http-ingress and a
     file-log resource), showing each start step;
  4. send HTTP requests to the node's http-ingress (printing the equivalent
     curl command): web calls transformer and answers;
  5. show the events reaching the sink (its TelemetryLog lines) for a while,
     then the lines web had the file-log write;
  6. stop the workflow, shut the box down, and check that no container of the
     box's node is left.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.examples, "examples", "", "examples directory (default: ./examples, or the repository's)")
	cmd.Flags().DurationVar(&opts.duration, "duration", 4*time.Second, "how long to show events")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "show the orchestrator's and node's info logs")
	cmd.Flags().BoolVar(&opts.noBuild, "no-build", false, "use the example images already built")
	cmd.Flags().BoolVar(&opts.buildOnly, "build-only", false, "only build the example images")
	return cmd
}

// findExamples returns the examples directory: dir if given, else
// ./examples or the examples directory of the repository holding the
// current directory.
func findExamples(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "workflow.json")); err != nil {
			return "", fmt.Errorf("--examples %s: %w", dir, err)
		}
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "examples", "workflow.json")); err == nil {
			return filepath.Join(d, "examples"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no examples/workflow.json in %s or its parents: run the demo from the repository, or give --examples", wd)
		}
	}
}

func runDemo(ctx context.Context, opts *demoOptions, out, errOut io.Writer) (err error) {
	t0 := time.Now()
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	dir, err := findExamples(opts.examples)
	if err != nil {
		return err
	}
	dc, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()

	if !opts.noBuild {
		step("Building the example images from %s (go build, then docker build through the Engine API; nothing is pulled)", dir)
		if err := buildExampleImages(ctx, dc, dir, out); err != nil {
			return err
		}
	}
	if opts.buildOnly {
		return nil
	}

	cfg, stateDir, err := demoConfig()
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	level := slog.LevelWarn
	if opts.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	boxCtx, stopBox := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBox()
	box, err := inabox.Start(boxCtx, cfg, log)
	if err != nil {
		return fmt.Errorf("start in-a-box: %w", err)
	}
	// Whatever happens from here on, the box is shut down and checked for
	// leftover containers.
	defer func() {
		step("Shutting down in-a-box (the node stops every instance and removes its container)")
		stopBox()
		if werr := box.Wait(); werr != nil {
			err = errors.Join(err, fmt.Errorf("in-a-box: %w", werr))
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		left, lerr := nodeContainers(cctx, dc, box.NodeID)
		switch {
		case lerr != nil:
			err = errors.Join(err, lerr)
		case len(left) > 0:
			err = errors.Join(err, fmt.Errorf("%d container(s) of node %s left behind: %v", len(left), box.NodeID, left))
		default:
			step("No container left behind (none labelled edgeless.node-id=%s)", box.NodeID)
		}
		if err == nil {
			step("Demo finished in %s", fmtDuration(time.Since(t0)))
		}
	}()
	step("Started in-a-box: controller %s, node %s (agent %s, guest API %s)",
		box.ControllerURL, box.NodeID, box.Node.Agent, box.Node.GuestAPIHost)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = box.WaitReady(rctx)
	cancel()
	if err != nil {
		return err
	}

	c, err := newController(box.ControllerURL)
	if err != nil {
		return err
	}
	wf := filepath.Join(dir, demoWorkflow)
	step("Deploying %s", wf)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	id, err := startWorkflow(sctx, c, wf, out, errOut, true)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		step("Stopping workflow %s", id)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if serr := stopWorkflow(sctx, c, id, out); serr != nil {
			err = errors.Join(err, serr)
		}
	}()

	if err := demoHTTP(ctx, box.Node.HTTPIngress, step, out); err != nil {
		return err
	}

	step("Events reaching the sink for %s (its TelemetryLog lines, reported by the node to the orchestrator):", opts.duration)
	ectx, cancel := context.WithTimeout(ctx, opts.duration)
	n := 0
	err = followTelemetry(ectx, c, id, "sink", true, 250*time.Millisecond, 10*time.Second, func(e adminapi.LogEntry) {
		n++
		fmt.Fprintf(out, "    %s %s: %s\n", e.Time.Local().Format("15:04:05.000"), e.Target, e.Msg)
	})
	cancel()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f, err := c.admin.Function(ctx, id, "sink")
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	r, err := c.nodeAdmin(f.AgentURL).Call(qctx, f.FunctionID, []byte("count"))
	cancel()
	if err != nil {
		return fmt.Errorf("call sink: %w", err)
	}
	step("The sink says it received %s events (call \"count\"); %d telemetry lines shown", r.Msg, n)
	if n == 0 {
		return fmt.Errorf("no event reached the sink in %s", opts.duration)
	}
	return showFileLog(filepath.Join(cfg.Node.Resources.FileLogDir, demoFileLog), step, out)
}

// demoConfig is the in-a-box configuration of the demo: every server on a
// free port (so that the demo runs beside anything else), the guest API on
// the Docker bridge gateway, a fresh node id and a temporary state
// directory, and registration every second so that telemetry shows soon.
func demoConfig() (*inabox.Config, string, error) {
	dir, err := os.MkdirTemp("", "edgeless-demo-state-")
	if err != nil {
		return nil, "", err
	}
	cfg := inabox.Default()
	cfg.Orchestrator.ControllerURL = "http://127.0.0.1:0"
	cfg.Orchestrator.NodeRegisterURL = "http://127.0.0.1:0"
	g := &cfg.Node.General
	g.NodeID = uuid.NewString()
	g.AgentURL = "http://127.0.0.1:0"
	g.InvocationURL = "http://127.0.0.1:0"
	g.SubscriptionRefreshIntervalSec = 1
	g.StateDir = dir
	cfg.Node.Telemetry.MetricsURL = ""
	cfg.Node.ContainerRuntime.GuestAPIHostURL = ""
	cfg.Node.Resources.HTTPIngressURL = "http://127.0.0.1:0"
	cfg.Node.Resources.FileLogDir = filepath.Join(dir, "file_log")
	return cfg, dir, nil
}
