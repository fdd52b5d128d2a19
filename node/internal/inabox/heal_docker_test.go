package inabox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/daemon"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/google/uuid"
	"github.com/moby/moby/client"
)

// testBoxConfig is an in-a-box domain on free ports with a fresh node id,
// quick restarts (crash-loop limit 3) and a one-second registration
// refresh.
func testBoxConfig(t testing.TB) *Config {
	t.Helper()
	cfg := Default()
	cfg.Orchestrator.ControllerURL = "http://127.0.0.1:0"
	cfg.Orchestrator.NodeRegisterURL = "http://127.0.0.1:0"
	cfg.Orchestrator.RestartBackoffMS = 50
	cfg.Orchestrator.CrashLoopLimit = 3
	nodeConfig(t, cfg.Node)
	return cfg
}

// nodeConfig puts a node on free ports with a fresh id and state directory.
func nodeConfig(t testing.TB, c *config.Config) {
	g := &c.General
	g.NodeID = uuid.NewString()
	g.AgentURL = "http://127.0.0.1:0"
	g.InvocationURL = "http://127.0.0.1:0"
	g.SubscriptionRefreshIntervalSec = 1
	g.StateDir = t.TempDir()
	c.Resources.HTTPIngressURL = "http://127.0.0.1:0"
	c.Resources.FileLogDir = t.TempDir()
	c.Telemetry.MetricsURL = ""
	c.ContainerRuntime.Enabled = true
	c.ContainerRuntime.GuestAPIHostURL = ""
	c.ContainerRuntime.StopGraceSec = 1
}

// startTestBox runs a box until the test ends; then every container left
// with its node id is removed (and counted as a failure by the tests that
// check for leaks before).
func startTestBox(t testing.TB, cfg *Config) *Box {
	t.Helper()
	containertest.RequireDocker(t)
	containertest.CleanupNode(t, cfg.Node.General.NodeID)
	ctx, cancel := context.WithCancel(context.Background())
	box, err := Start(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := box.Wait(); err != nil {
			t.Errorf("in-a-box shut down with: %v", err)
		}
	})
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := box.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	return box
}

// chain is a workflow of the template's example function: a -> b -> c
// through the alias "output". A call "recall output recall output MSG" to a
// crosses both links and comes back as MSG.
func chain(image string, annotations map[string]string, names ...string) *edgelessapi.SpawnWorkflowRequest {
	req := &edgelessapi.SpawnWorkflowRequest{Annotations: annotations}
	for i, n := range names {
		f := &edgelessapi.WorkflowFunction{
			Name:          n,
			ClassSpec:     &edgelessapi.FunctionClassSpecification{Id: n, FunctionType: "CONTAINER", Version: "0.1", Code: "container:" + image, Outputs: []string{"output"}},
			OutputMapping: map[string]string{},
			Annotations:   map[string]string{},
		}
		if i+1 < len(names) {
			f.OutputMapping["output"] = names[i+1]
		}
		req.WorkflowFunctions = append(req.WorkflowFunctions, f)
	}
	return req
}

// domain is a test's view of a box through its admin APIs.
type domain struct {
	t   testing.TB
	box *Box
	ctl adminapi.Controller
	wf  string
}

func startWorkflow(t testing.TB, box *Box, req *edgelessapi.SpawnWorkflowRequest) *domain {
	t.Helper()
	st, err := box.Orchestrator.StartWorkflow(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("StartWorkflow: %v", err)
	}
	return &domain{t: t, box: box, ctl: adminapi.Controller{BaseURL: box.ControllerURL}, wf: st.GetWorkflowId().GetWorkflowId()}
}

func (d *domain) fn(name string) *adminapi.FunctionInfo {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := d.ctl.Function(ctx, d.wf, name)
	if err != nil {
		d.t.Fatalf("function %s: %v", name, err)
	}
	return f
}

// call sends msg as a call to the function's current instance.
func (d *domain) call(name, msg string) (string, error) {
	f := d.fn(name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := adminapi.Node{BaseURL: f.AgentURL}.Call(ctx, f.FunctionID, []byte(msg))
	if err != nil {
		return "", err
	}
	if r.Type != "REPLY" {
		return "", fmt.Errorf("answer %s", r.Type)
	}
	return r.Msg, nil
}

func (d *domain) mustCall(name, msg, want string) {
	d.t.Helper()
	if got, err := d.call(name, msg); err != nil || got != want {
		d.t.Fatalf("call %s %q = %q, %v; want %q", name, msg, got, err, want)
	}
}

// waitFor polls the function until ok holds; it fails the test after two
// minutes (a bound for a broken system, not a speed assertion).
func (d *domain) waitFor(name, what string, ok func(*adminapi.FunctionInfo) bool) *adminapi.FunctionInfo {
	d.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		f := d.fn(name)
		if ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("after two minutes, function %s is not %s: %+v", name, what, f)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// events returns the workflow's lifecycle events so far.
func (d *domain) events() []adminapi.Event {
	d.t.Helper()
	var out []adminapi.Event
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.ctl.Events(ctx, d.wf, 0, false, func(e adminapi.Event) error { out = append(out, e); return nil }); err != nil {
		d.t.Fatalf("events: %v", err)
	}
	return out
}

func (d *domain) stop() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.box.Orchestrator.StopWorkflow(ctx, d.wf); err != nil {
		d.t.Fatalf("StopWorkflow: %v", err)
	}
}

func containerCount(t testing.TB, dc *client.Client, nodeID string) int {
	t.Helper()
	ids, err := containertest.InstanceContainers(context.Background(), dc, nodeID) // not the idle prewarmed ones
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

func killContainer(t testing.TB, dc *client.Client, functionID string) {
	t.Helper()
	// A container taken from the prewarm pool gets this name shortly
	// after its instance started: retry while there is none.
	for t0 := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		_, err := dc.ContainerKill(context.Background(), "edgeless-"+functionID, client.ContainerKillOptions{Signal: "SIGKILL"})
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "No such container") || time.Since(t0) > 10*time.Second {
			t.Fatalf("docker kill edgeless-%s: %v", functionID, err)
		}
	}
}

// docker kill of the middle function of a running three-function workflow:
// the orchestrator starts a replacement on the same node with the state of
// its last Sync, re-wires the function before it, and events flow end to
// end again. The events say what happened, and inspect shows the restart.
func TestDocker_KilledFunctionComesBack(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	dc := containertest.RequireDocker(t)
	box := startTestBox(t, testBoxConfig(t))
	d := startWorkflow(t, box, chain(image, nil, "a", "b", "c"))

	d.mustCall("a", "recall output recall output hello", "hello")
	d.mustCall("b", "sync v1", "ok")
	old := d.fn("b")
	killContainer(t, dc, old.FunctionID)

	b := d.waitFor("b", "restarted", func(f *adminapi.FunctionInfo) bool {
		return f.Restarts == 1 && f.Health == adminapi.HealthRunning
	})
	if b.FunctionID == old.FunctionID || b.NodeID != old.NodeID || !strings.Contains(b.Reason, "killed") || b.LastRestart.IsZero() {
		t.Errorf("b after the kill = %+v; want a new instance on node %s, reason killed, a last restart time", b, old.NodeID)
	}
	d.mustCall("a", "recall output recall output again", "again")
	d.mustCall("b", "state", "v1")

	var types []string
	for _, e := range d.events() {
		if e.Function == "b" && e.Type != adminapi.EventStarted {
			types = append(types, e.Type)
			if e.Type == adminapi.EventCrashed && (e.FunctionID != old.FunctionID || !strings.Contains(e.Reason, "killed")) {
				t.Errorf("crashed event = %+v, want instance %s, reason killed", e, old.FunctionID)
			}
		}
	}
	if got, want := strings.Join(types, ","), "crashed,restarting,restarted"; got != want {
		t.Errorf("events of b = %s, want %s", got, want)
	}
	d.stop()
	if n := containerCount(t, dc, box.NodeID); n != 0 {
		t.Errorf("containers after the stop = %d, want 0", n)
	}
}

// A function that exits at every start is restarted until the crash-loop
// limit, then marked failed with the last reason; with restart_policy
// "never" it fails at the first crash.
func TestDocker_CrashLoopStopsAtLimit(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	box := startTestBox(t, testBoxConfig(t))

	t.Run("limit", func(t *testing.T) {
		d := startWorkflow(t, box, chain(image, nil, "a"))
		for i := 0; ; i++ {
			f := d.waitFor("a", "running or failed", func(f *adminapi.FunctionInfo) bool {
				return f.Health == adminapi.HealthRunning || f.Health == adminapi.HealthFailed
			})
			if f.Health == adminapi.HealthFailed {
				want := "crash loop: 4 crashes in a row (limit 3), the last: exited (exit code 3)"
				if f.Reason != want || f.Restarts != 3 || i != 4 {
					t.Errorf("after %d exits: reason %q, restarts %d; want after 4 exits %q, 3 restarts", i, f.Reason, f.Restarts, want)
				}
				break
			}
			if i > 4 {
				t.Fatalf("still running after %d exits: %+v", i, f)
			}
			_, _ = d.call("a", "exit 3") // the call fails: the process ends
			d.waitFor("a", "noticed dead", func(g *adminapi.FunctionInfo) bool {
				return g.FunctionID != f.FunctionID || g.Health != adminapi.HealthRunning
			})
		}
		evs := d.events()
		if last := evs[len(evs)-1]; last.Type != adminapi.EventFailed || !strings.Contains(last.Reason, "crash loop") {
			t.Errorf("last event = %+v, want failed: crash loop", last)
		}
		d.stop()
	})
	t.Run("never", func(t *testing.T) {
		d := startWorkflow(t, box, chain(image, map[string]string{"restart_policy": "never"}, "a"))
		_, _ = d.call("a", "exit 7")
		f := d.waitFor("a", "failed", func(f *adminapi.FunctionInfo) bool { return f.Health == adminapi.HealthFailed })
		if want := `exited (exit code 7); not restarted: the workflow's restart_policy is "never"`; f.Reason != want || f.Restarts != 0 {
			t.Errorf("reason %q, restarts %d; want %q, 0", f.Reason, f.Restarts, want)
		}
		// A call to the dead instance fails at once, saying why.
		if _, err := d.call("a", "hello"); err == nil || !strings.Contains(err.Error(), "ended: exited (exit code 7)") {
			t.Errorf("call to the dead instance = %v, want an error with its exit reason", err)
		}
		d.stop()
	})
	if _, err := box.Orchestrator.StartWorkflow(t.Context(), chain(image, map[string]string{"restart_policy": "sometimes"}, "a"), nil); err == nil ||
		!strings.Contains(err.Error(), `annotations[restart_policy] = "sometimes": want "always" or "never"`) {
		t.Errorf("StartWorkflow(restart_policy=sometimes) = %v, want an error naming the annotation", err)
	}
}

// secondNode runs a daemon registered with the box until stop is called
// or the test ends.
type secondNode struct {
	cfg    *config.Config
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startSecondNode(t testing.TB, box *Box, cfg *config.Config) *secondNode {
	t.Helper()
	cfg.General.NodeRegisterURL = box.RegisterURL
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)).With("node", "second"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	n := &secondNode{cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- d.Serve(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := box.Orchestrator.WaitNodeReady(rctx, cfg.General.NodeID); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *secondNode) stop(t testing.TB) {
	n.once.Do(func() {
		n.cancel()
		if err := <-n.done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("second node: %v", err)
		}
	})
}

// Two nodes with a workflow spread over both; the second node stops: its
// functions are re-placed on the box's node, the peers re-wired, and events
// flow again. The second node restarts with the same id: it is reset and
// ready for new placements, and nothing runs twice.
func TestDocker_LostNodeFunctionsMove(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	dc := containertest.RequireDocker(t)
	box := startTestBox(t, testBoxConfig(t))
	n2cfg := config.Default()
	nodeConfig(t, n2cfg)
	id2 := n2cfg.General.NodeID
	containertest.CleanupNode(t, id2)
	n2 := startSecondNode(t, box, n2cfg)

	d := startWorkflow(t, box, chain(image, nil, "a", "b", "c"))
	var moved []string
	for _, name := range []string{"a", "b", "c"} {
		if d.fn(name).NodeID == id2 {
			moved = append(moved, name)
		}
	}
	if len(moved) == 0 || len(moved) == 3 {
		t.Fatalf("functions on the second node: %v; want the workflow spread over both nodes", moved)
	}
	d.mustCall("a", "recall output recall output hello", "hello")

	n2.stop(t)
	for _, name := range moved {
		f := d.waitFor(name, "moved to the box's node", func(f *adminapi.FunctionInfo) bool {
			return f.Moves == 1 && f.Health == adminapi.HealthRunning
		})
		if f.NodeID != box.NodeID || !strings.Contains(f.Reason, "node "+id2+" missed its refresh deadline") {
			t.Errorf("%s after the loss = node %s, reason %q; want node %s, reason: the node missed its refresh deadline", name, f.NodeID, f.Reason, box.NodeID)
		}
	}
	d.mustCall("a", "recall output recall output again", "again")
	if n := containerCount(t, dc, id2); n != 0 {
		t.Errorf("containers of the stopped node = %d, want 0", n)
	}

	// The second node comes back with the same id.
	n2cfg2 := *n2cfg
	n2b := startSecondNode(t, box, &n2cfg2)
	defer n2b.stop(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	agent2 := ""
	nodes, err := d.ctl.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.NodeID == id2 {
			agent2 = n.AgentURL
		}
	}
	if ins, err := (adminapi.Node{BaseURL: agent2}).Instances(ctx); err != nil || len(ins) != 0 {
		t.Errorf("instances of the returned node = %v, %v; want none", ins, err)
	}
	// Counted by the pool's own set: a pooled container a Start took
	// keeps its pool name until its rename, in the background, is done.
	// The pool's books before and after the engine's list (see
	// containertest.InstanceContainersOf).
	pool := box.PoolContainers()
	ids, err := containertest.NodeContainers(ctx, dc, box.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	pool = append(pool, box.PoolContainers()...)
	if inst := slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(pool, id) }); len(inst) != 3 {
		t.Errorf("instance containers of the box's node = %v (pool %v), want 3 (one per function)", inst, pool)
	}
	if n := containerCount(t, dc, id2); n != 0 {
		t.Errorf("containers of the returned node = %d, want 0", n)
	}
	d.mustCall("a", "recall output recall output still", "still")
	// It is used for new placements.
	d2 := startWorkflow(t, box, chain(image, nil, "x", "y"))
	on2 := 0
	for _, name := range []string{"x", "y"} {
		if d2.fn(name).NodeID == id2 {
			on2++
		}
	}
	if on2 == 0 {
		t.Errorf("no function of a new workflow was placed on the returned node")
	}
	d2.mustCall("x", "recall output ping", "ping")
	d2.stop()
	d.stop()
	for _, id := range []string{box.NodeID, id2} {
		if n := containerCount(t, dc, id); n != 0 {
			t.Errorf("containers of node %s after the stops = %d, want 0", id, n)
		}
	}
}

// A function that lets events pass their deadline three times in a row is
// reported unresponsive by its node and replaced like a crashed one.
func TestDocker_UnresponsiveFunctionIsReplaced(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	dc := containertest.RequireDocker(t)
	cfg := testBoxConfig(t)
	cfg.Node.ContainerRuntime.CallTimeoutSec = 1
	box := startTestBox(t, cfg)
	d := startWorkflow(t, box, chain(image, nil, "a"))
	old := d.fn("a")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for range 3 {
		if err := (adminapi.Node{BaseURL: old.AgentURL}).Cast(ctx, old.FunctionID, []byte("sleep 5000")); err != nil {
			t.Fatalf("cast sleep: %v", err)
		}
	}
	f := d.waitFor("a", "restarted", func(f *adminapi.FunctionInfo) bool { return f.Restarts == 1 && f.Health == adminapi.HealthRunning })
	if want := "unresponsive: 3 events in a row passed their deadline"; f.Reason != want || f.FunctionID == old.FunctionID {
		t.Errorf("a after three missed deadlines = %+v, want a new instance, reason %q", f, want)
	}
	d.mustCall("a", "hello", "hello")
	d.stop()
	if n := containerCount(t, dc, box.NodeID); n != 0 {
		t.Errorf("containers after the stop = %d, want 0", n)
	}
}
