package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/edgeless-go/edgeless/node/internal/process"
	"github.com/edgeless-go/edgeless/node/internal/state"
	"github.com/edgeless-go/edgeless/node/internal/workflow"
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
	mixed     bool
	idDir     string
	keep      bool
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
     ports of 127.0.0.1 and of the function network's gateway;
  3. deploy examples/workflow-http.json (the functions, an http-ingress and a
     file-log resource), showing each start step, then the workflow's shape
     and where each function runs;
  4. send HTTP requests to the node's http-ingress (printing the equivalent
     curl command): web calls transformer and answers;
  5. show the events reaching the sink (its output lines) for a while, check
     them against the count the sink answers, then show the lines web had the
     file-log write;
  6. stop the workflow, shut the box down, and check that no container of the
     box's node is left (with --keep: only after Ctrl-C, so that the
     workflow can be watched in the web console, whose URL is printed).

With --mixed it deploys examples/workflow-mixed.json instead: the same
workflow with the transformer as a RUST_WASM function (examples/
wasmtransformer, compiled with GOOS=wasip1 into a WebAssembly module that
the node runs in-process, in mode=reverse) between container functions.`,
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
	cmd.Flags().BoolVar(&opts.mixed, "mixed", false, "deploy workflow-mixed.json: the transformer as a RUST_WASM module between the two containers")
	cmd.Flags().StringVar(&opts.idDir, "state-dir", defaultDemoStateDir(), "where the demo's node id is kept, so that a demo run after a crashed one removes its containers")
	cmd.Flags().BoolVar(&opts.keep, "keep", false, "keep the box and the workflow up (see them in the web console) until Ctrl-C")
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
	// The node id outlives the run: if this one is killed, the next removes
	// its containers at start-up.
	nodeID, _, err := state.LoadOrCreateNodeID(opts.idDir)
	if err != nil {
		return err
	}
	cfg.Node.General.NodeID = nodeID
	level := slog.LevelWarn
	if opts.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	// grpc-go's warnings (rate-limited) come in the demo's format and
	// level, not on stderr in its own.
	process.SetGRPCLogger(log)
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

	// The box found its TLS file where this does: the working directory.
	sec, err := loadSecurity("", "")
	if err != nil {
		return err
	}
	c, err := newController(box.ControllerURL, sec)
	if err != nil {
		return err
	}
	wf := filepath.Join(dir, demoWorkflow)
	if opts.mixed {
		if wf, err = mixedWorkflow(ctx, dir, stateDir, out); err != nil {
			return err
		}
	}
	step("Deploying %s", wf)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	id, err := startWorkflow(sctx, c, wf, out, errOut, true)
	cancel()
	if err != nil {
		return err
	}
	step("Web console: %s/workflows/%s (the domain: %s/)", box.ControllerURL, id, box.ControllerURL)
	defer func() {
		step("Stopping workflow %s", id)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if serr := stopWorkflow(sctx, c, id, out); serr != nil {
			err = errors.Join(err, serr)
		}
	}()

	req, err := workflow.Load(wf)
	if err != nil {
		return err
	}
	view, err := inspectWorkflow(ctx, c, id)
	if err != nil {
		return err
	}
	step("Workflow %s: what feeds what, and where each function runs", id)
	if err := printShape(out, req, view); err != nil {
		return err
	}

	if err := demoHTTP(ctx, box.Node.HTTPIngress, step, out); err != nil {
		return err
	}
	if err := showSinkEvents(ctx, c, id, opts.duration, out, step); err != nil {
		return err
	}
	if err := showFileLog(filepath.Join(cfg.Node.Resources.FileLogDir, demoFileLog), step, out); err != nil {
		return err
	}
	if opts.keep {
		step("Keeping the box up; web console: %s/workflows/%s. Ctrl-C to stop and clean up", box.ControllerURL, id)
		<-ctx.Done()
	}
	return nil
}

// firstEventBound bounds how long the demo waits for the sink's first event
// line when the showing time has passed without one.
const firstEventBound = 30 * time.Second

// sinkEvent matches a line of the sink's output: "event N: <payload>".
var sinkEvent = regexp.MustCompile(`^event (\d+): `)

// showSinkEvents prints the sink's event lines as its node receives them
// from its container (polled every 100 ms, so without the delay of
// telemetry, which reaches the orchestrator with the node's next
// registration), for d; then asks the sink how many events it received and
// prints the lines up to that count, so that both numbers agree.
func showSinkEvents(ctx context.Context, c *controller, id string, d time.Duration, out io.Writer, step func(string, ...any)) error {
	f, err := c.admin.Function(ctx, id, "sink")
	if err != nil {
		return err
	}
	node := c.nodeAdmin(f.AgentURL)
	step("Events reaching the sink for %s (its output lines, read from its node as they are written):", d)
	shown := 0 // the number of the last event line printed
	var last *adminapi.LogLine
	poll := func(upTo int) error {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		lines, err := node.Logs(rctx, f.FunctionID)
		cancel()
		if err != nil {
			return fmt.Errorf("output of the sink: %w", err)
		}
		for _, l := range newLines(lines, last) {
			m := sinkEvent.FindStringSubmatch(l.Text)
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(m[1])
			if n <= shown || (upTo > 0 && n > upTo) {
				continue
			}
			fmt.Fprintf(out, "    %s sink: %s\n", l.Time.Local().Format("15:04:05.000"), l.Text)
			shown = n
		}
		if len(lines) > 0 {
			last = &lines[len(lines)-1]
		}
		return nil
	}
	// Show events for d, and at least until the first one arrives: on a
	// loaded host the first tick may take longer than d to reach the sink
	// (firstEventBound bounds that wait for a broken system).
	ectx, cancel := context.WithTimeout(ctx, d)
	fctx, fcancel := context.WithTimeout(ctx, firstEventBound)
	for {
		if err := poll(0); err != nil {
			cancel()
			fcancel()
			return err
		}
		wait := ectx
		if shown == 0 {
			wait = fctx
		}
		if !sleep(wait, 100*time.Millisecond) {
			break
		}
	}
	cancel()
	fcancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	r, err := node.Call(qctx, f.FunctionID, []byte("count"))
	cancel()
	if err != nil {
		return fmt.Errorf("call sink: %w", err)
	}
	count, err := strconv.Atoi(r.Msg)
	if err != nil {
		return fmt.Errorf("call sink count: answer %q is not a number", r.Msg)
	}
	// The lines of the events counted but not printed yet are on their way
	// to the node (a bound for a broken system, not a speed assertion).
	for deadline := time.Now().Add(5 * time.Second); shown < count && time.Now().Before(deadline); {
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
		if err := poll(count); err != nil {
			return err
		}
	}
	switch {
	case count == 0:
		return fmt.Errorf("no event reached the sink in %s", max(d, firstEventBound))
	case shown == count:
		step("The sink says it received %d events (call \"count\"): the %d lines above", count, shown)
	default:
		step("The sink says it received %d events (call \"count\"); %d lines shown: the node keeps only the last lines of a container's output", count, shown)
	}
	fmt.Fprintf(out, "    (the same lines reach the orchestrator as TelemetryLog entries with each registration of the node: edgeless function logs --telemetry %s sink)\n", id)
	return nil
}

// mixedWorkflow compiles examples/wasmtransformer into a WASM module next
// to a copy of workflow-mixed.json in tmp (whose code names it, relative to
// the workflow file as upstream's CLI reads it) and returns the copy's path.
func mixedWorkflow(ctx context.Context, dir, tmp string, out io.Writer) (string, error) {
	t0 := time.Now()
	mod := filepath.Join(tmp, "wasmtransformer.wasm")
	if err := goCommandFor(ctx, dir, "wasip1", "wasm", "build", "-trimpath", "-buildmode=c-shared", "-o", mod, "./wasmtransformer"); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "    compiled wasmtransformer into a WASM module in %s\n", fmtDuration(time.Since(t0)))
	b, err := os.ReadFile(filepath.Join(dir, "workflow-mixed.json"))
	if err != nil {
		return "", fmt.Errorf("examples: %w", err)
	}
	wf := filepath.Join(tmp, "workflow-mixed.json")
	return wf, os.WriteFile(wf, b, 0o600)
}

// defaultDemoStateDir is where the demo keeps its node id: the user's cache
// directory, else the temporary one.
func defaultDemoStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "edgeless-demo")
}

// demoConfig is the in-a-box configuration of the demo: every server on a
// free port (so that the demo runs beside anything else), the guest API on
// the function network's gateway, a fresh node id (the demo command
// replaces it with the one it keeps) and a temporary state
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
