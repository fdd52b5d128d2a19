package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// TestE2E_ExampleWorkflow drives the example workflow through the CLI with
// real Docker: start (with per-function progress), list, inspect, events
// flowing, cast and call, logs, stop, and no container left.
func TestE2E_ExampleWorkflow(t *testing.T) {
	t.Parallel()
	dir := exampleImages(t)
	box := startBox(t)
	url := box.ControllerURL

	out := mustCLI(t, url, "workflow", "start", filepath.Join(dir, "workflow.json"))
	for _, want := range []string{
		"sink           starting edgeless-example-sink:dev on node " + box.NodeID[:8],
		"ticker         started in ",
		"(image ", ", create ", ", boot ", ", init ",
		"outputs wired in",
		"Workflow ", " started in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("workflow start output lacks %q", want)
		}
	}
	var ids []string
	if err := json.Unmarshal([]byte(mustCLI(t, url, "workflow", "list", "-o", "json")), &ids); err != nil || len(ids) != 1 {
		t.Fatalf("workflow list = %v, %v; want one id", ids, err)
	}
	id := ids[0]
	if !strings.Contains(out, "Workflow "+id+" started") {
		t.Errorf("start output does not name workflow %s", id)
	}

	v := inspect(t, url, id)
	if len(v.Functions) != 3 {
		t.Fatalf("inspect: %d functions, want 3", len(v.Functions))
	}
	for _, f := range v.Functions {
		if f.State != "running" || f.NodeID != box.NodeID || f.ContainerID == "" ||
			f.ContainerName != "edgeless-"+f.FunctionID || f.StartedAt.IsZero() || f.Image != ExampleTag(f.Name) {
			t.Errorf("inspect %s = %+v, want running on node %s in container edgeless-<instance> of %s with a start time",
				f.Name, f, box.NodeID, ExampleTag(f.Name))
		}
	}
	table := mustCLI(t, url, "workflow", "inspect", id)
	for _, want := range []string{"FUNCTION", "INSTANCE", "NODE", "STATE", "CONTAINER", "STARTED", "ticker", "running", "edgeless-" + v.Functions[0].FunctionID} {
		if !strings.Contains(table, want) {
			t.Errorf("inspect table lacks %q", want)
		}
	}

	// Ticks flow ticker -> transformer -> sink.
	eventually(t, "the sink counts ticks", func() bool {
		out, err := runCLI(t, url, "function", "call", id, "sink", "count")
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return err == nil && n >= 2
	})
	// The sink's node counts what it received: at least the ticks counted
	// above, and one more for the call that counted them.
	eventually(t, "inspect shows the sink's received events", func() bool {
		for _, f := range inspect(t, url, id).Functions {
			if f.Name == "sink" {
				return f.EventsReceived != nil && *f.EventsReceived >= 3
			}
		}
		return false
	})
	// The transformer's node counts what it sent on its alias "output".
	eventually(t, "inspect shows the transformer's sent events", func() bool {
		for _, f := range inspect(t, url, id).Functions {
			if f.Name == "transformer" {
				return f.EventsSent["output"] >= 2
			}
		}
		return false
	})
	eventually(t, "the sink's TelemetryLog lines reach the orchestrator", func() bool {
		out, err := runCLI(t, url, "function", "logs", "--telemetry", id, "sink")
		return err == nil && strings.Contains(out, "sink: event 1: TICK 1")
	})
	// A cast from the CLI goes through the transformer too.
	if out := mustCLI(t, url, "function", "cast", id, "transformer", "hello from the test"); !strings.Contains(out, "cast 19 bytes to transformer") {
		t.Errorf("cast output = %q", out)
	}
	eventually(t, "the cast reaches the sink, upper-cased", func() bool {
		out, _ := runCLI(t, url, "function", "logs", "--telemetry", id, "sink")
		return strings.Contains(out, "HELLO FROM THE TEST")
	})
	if out := mustCLI(t, url, "function", "call", id, "transformer", "abc"); out != "ABC\n" {
		t.Errorf("call transformer abc = %q, want %q", out, "ABC\n")
	}
	if _, err := runCLI(t, url, "function", "call", id, "sink", "nonsense"); err == nil || !strings.Contains(err.Error(), "answered ERR") {
		t.Errorf("call sink nonsense = %v, want the function's error", err)
	}
	// The container's output reaches the node through the engine's log
	// stream, apart from (and possibly after) the TelemetryLog lines seen
	// above.
	eventually(t, "the sink's container output has its event lines", func() bool {
		out, err := runCLI(t, url, "function", "logs", id, "sink")
		return err == nil && strings.Contains(out, " event 1: TICK 1\n")
	})
	if _, err := runCLI(t, url, "function", "logs", id, "nope"); err == nil || !strings.Contains(err.Error(), `has no function "nope" (it has: sink, transformer, ticker)`) {
		t.Errorf("logs of an unknown function = %v", err)
	}

	if out := mustCLI(t, url, "workflow", "stop", id); !strings.Contains(out, "Workflow "+id+" stopped") {
		t.Errorf("stop output = %q", out)
	}
	if n := settledContainerCount(t, box, 0); n != 0 {
		t.Errorf("%d containers left after workflow stop, want 0", n)
	}
	if _, err := runCLI(t, url, "workflow", "inspect", id); err == nil || !strings.Contains(err.Error(), "no workflow "+id) {
		t.Errorf("inspect after stop = %v, want no workflow", err)
	}
	if _, err := runCLI(t, url, "workflow", "stop", id); err == nil || !strings.Contains(err.Error(), "no workflow "+id) {
		t.Errorf("second stop = %v, want no workflow", err)
	}
}

func TestE2E_TwoWorkflowsSideBySide(t *testing.T) {
	t.Parallel()
	dir := exampleImages(t)
	box := startBox(t)
	url := box.ControllerURL
	wf := filepath.Join(dir, "workflow.json")
	a, b := startFile(t, url, wf), startFile(t, url, wf)
	if a == b {
		t.Fatalf("two starts gave the same id %s", a)
	}
	va, vb := inspect(t, url, a), inspect(t, url, b)
	seen := map[string]bool{}
	for _, f := range append(va.Functions, vb.Functions...) {
		if seen[f.ContainerID] || f.State != "running" {
			t.Errorf("function %s: container %s state %s; want its own running container", f.Name, f.ContainerID, f.State)
		}
		seen[f.ContainerID] = true
	}
	if n := settledContainerCount(t, box, 6); n != 6 {
		t.Errorf("%d containers for two workflows, want 6", n)
	}
	mustCLI(t, url, "workflow", "stop", a)
	if n := settledContainerCount(t, box, 3); n != 3 {
		t.Errorf("%d containers after stopping one workflow, want 3", n)
	}
	// The other one still runs: its sink keeps counting.
	first := -1
	eventually(t, "the second workflow's sink keeps counting", func() bool {
		out, err := runCLI(t, url, "function", "call", b, "sink", "count")
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			return false
		}
		if first < 0 {
			first = n
		}
		return n > first
	})
	mustCLI(t, url, "workflow", "stop", b)
	if n := settledContainerCount(t, box, 0); n != 0 {
		t.Errorf("%d containers after stopping both, want 0", n)
	}
}

// exampleWorkflow renders a workflow of the three example functions with
// the ticker's image replaced by image.
func exampleWorkflow(t *testing.T, dir, tickerImage string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "workflow.json"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), "container:edgeless-example-ticker:dev", "container:"+tickerImage, 1)
}

// A start that fails midway (the last function's image is missing) stops
// what it started, and says which function failed and why.
func TestE2E_StartFailsMidwayRollsBack(t *testing.T) {
	t.Parallel()
	dir := exampleImages(t)
	box := startBox(t)
	url := box.ControllerURL
	missing := fmt.Sprintf("edgeless-missing-%d:dev", time.Now().UnixNano())
	path := writeFile(t, "workflow.json", exampleWorkflow(t, dir, missing))
	out, err := runCLI(t, url, "workflow", "start", path)
	if err == nil {
		t.Fatal("workflow start with a missing image succeeded")
	}
	for _, want := range []string{`function "ticker"`, missing, "not found"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, want := range []string{"sink           started", "transformer    started", "ticker         FAILED: ",
		"transformer    rolled back (stopped)", "sink           rolled back (stopped)"} {
		if !strings.Contains(out, want) {
			t.Errorf("start output lacks %q", want)
		}
	}
	if strings.Index(out, "transformer    rolled back") > strings.Index(out, "sink           rolled back") {
		t.Error("rollback did not stop in reverse order")
	}
	if n := settledContainerCount(t, box, 0); n != 0 {
		t.Errorf("%d containers left after the rollback, want 0", n)
	}
	if out := mustCLI(t, url, "workflow", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("workflow list after a failed start = %s, want []", out)
	}
}

// crashWorkflow is a sink and the example function "worker" wired to it,
// with the workflow annotations given.
func crashWorkflow(t *testing.T, image, annotations string) string {
	return writeFile(t, "crash.json", `{
  "functions": [
    { "name": "sink",
      "class_specification": { "id": "sink", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:`+ExampleTag("sink")+`", "outputs": [] },
      "output_mapping": {}, "annotations": {} },
    { "name": "worker",
      "class_specification": { "id": "example", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:`+image+`", "outputs": ["output"] },
      "output_mapping": { "output": "sink" }, "annotations": {} }
  ],
  "resources": [],
  "annotations": `+annotations+`
}`)
}

// A workflow whose function crashed (its container exited) and is not
// restarted (restart_policy "never") says why everywhere a user looks:
// inspect, a call, the events; and it still stops cleanly, removing every
// container.
func TestE2E_StopWorkflowWithCrashedFunction(t *testing.T) {
	t.Parallel()
	exampleImages(t)
	image := containertest.BuildExampleImage(t)
	box := startBox(t)
	url := box.ControllerURL
	id := startFile(t, url, crashWorkflow(t, image, `{ "restart_policy": "never" }`))
	// The example function exits on "exit CODE"; the cast may or may not
	// see its answer.
	_, _ = runCLI(t, url, "function", "cast", id, "worker", "exit 3")
	const why = `exited (exit code 3); not restarted: the workflow's restart_policy is "never"`
	eventually(t, "the orchestrator marks the worker failed", func() bool {
		for _, f := range inspect(t, url, id).Functions {
			if f.Name == "worker" {
				return f.State == "failed: "+why
			}
		}
		return false
	})
	if out := mustCLI(t, url, "workflow", "inspect", id); !strings.Contains(out, "failed: "+why) {
		t.Errorf("inspect does not say why the worker is dead:\n%s", out)
	}
	_, err := runCLI(t, url, "function", "call", id, "worker", "hello")
	if want := `function "worker" is dead and will not be restarted: ` + why; err == nil || err.Error() != want {
		t.Errorf("function call on the dead worker = %v, want %q", err, want)
	}
	if out := mustCLI(t, url, "workflow", "events", id); !strings.Contains(out, "crashed") || !strings.Contains(out, "failed") ||
		strings.Count(out, "exited (exit code 3)") != 2 {
		t.Errorf("events do not show the crash and the failure with the reason:\n%s", out)
	}
	if out := mustCLI(t, url, "workflow", "stop", id); !strings.Contains(out, "stopped") {
		t.Errorf("stop output = %q", out)
	}
	if n := settledContainerCount(t, box, 0); n != 0 {
		t.Errorf("%d containers left after stopping a workflow with a crashed function, want 0", n)
	}
}

// A crashed function is restarted; inspect shows the restart, and
// `workflow events --follow` shows the crash and the restart as they happen.
func TestE2E_CrashedFunctionRestarts(t *testing.T) {
	t.Parallel()
	exampleImages(t)
	image := containertest.BuildExampleImage(t)
	box := startBox(t)
	url := box.ControllerURL
	id := startFile(t, url, crashWorkflow(t, image, `{}`))

	// The bound ends the stream (and the test) if the restart never comes.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	lines := make(chan string, 100)
	go func() {
		_ = adminapi.Controller{BaseURL: url}.Events(ctx, id, 0, true, func(e adminapi.Event) error {
			lines <- fmtEvent(e)
			return nil
		})
		close(lines)
	}()
	_, _ = runCLI(t, url, "function", "cast", id, "worker", "exit 3")
	var seen []string
	for l := range lines {
		seen = append(seen, l)
		if strings.Contains(l, "restarted") && strings.Contains(l, "worker") {
			break
		}
	}
	got := strings.Join(seen, "\n")
	for _, want := range []string{"started     sink", "started     worker", "crashed     worker", "exited (exit code 3)", "restarting  worker", "restarted   worker"} {
		if !strings.Contains(got, want) {
			t.Errorf("followed events lack %q:\n%s", want, got)
		}
	}
	var worker InstanceView
	for _, f := range inspect(t, url, id).Functions {
		if f.Name == "worker" {
			worker = f
		}
	}
	if worker.Restarts != 1 || worker.State != "running" || worker.LastRestart.IsZero() {
		t.Errorf("inspect worker = %+v, want running, 1 restart with its time", worker)
	}
	if out := mustCLI(t, url, "workflow", "inspect", id); !strings.Contains(out, "RESTARTS") || !strings.Contains(out, "1, last ") {
		t.Errorf("inspect table does not show the restart:\n%s", out)
	}
	if got := strings.TrimSpace(mustCLI(t, url, "function", "call", id, "worker", "hello")); got != "hello" {
		t.Errorf("call to the restarted worker = %q, want hello", got)
	}
	mustCLI(t, url, "workflow", "stop", id)
	if n := settledContainerCount(t, box, 0); n != 0 {
		t.Errorf("%d containers left, want 0", n)
	}
}

// Bad workflow files are refused before anything starts, with messages that
// say what and where.
func TestCLI_BadWorkflowFiles(t *testing.T) {
	t.Parallel()
	fn := func(name, typ, code, mapping string) string {
		return fmt.Sprintf(`{ "name": %q, "class_specification": { "id": %q, "function_type": %q, "version": "0.1",
        "code": %q, "outputs": [] }, "output_mapping": {%s}, "annotations": {} }`, name, name, typ, code, mapping)
	}
	wf := func(fns ...string) string {
		return `{ "functions": [` + strings.Join(fns, ",") + `], "resources": [], "annotations": {} }`
	}
	ok := "container:edgeless-example-sink:dev"
	tests := []struct {
		name, content, want string
	}{
		{"unknown output target", wf(fn("a", "CONTAINER", ok, `"output": "b"`)),
			`functions[0] "a".output_mapping[output]: unknown target "b" (the workflow has: a)`},
		{"duplicate names", wf(fn("a", "CONTAINER", ok, ""), fn("a", "CONTAINER", ok, "")),
			`functions[1] "a": duplicate name "a" (also functions[0] "a")`},
		{"bad code string", wf(fn("a", "CONTAINER", "docker:sink", "")),
			`functions[0] "a".class_specification.code: bad code string "docker:sink": unknown kind "docker"`},
		{"no image", wf(fn("a", "CONTAINER", "container:", "")),
			`bad code string "container:": no image after "container:"`},
		{"unknown function type", wf(fn("a", "PYTHON", ok, "")),
			`functions[0] "a".class_specification.function_type: unknown function type "PYTHON" (known types: CONTAINER, RUST_WASM)`},
		{"syntax", "{\n  \"functions\": [}\n", "line 2, column 17: invalid JSON"},
		{"typo", strings.Replace(wf(fn("a", "CONTAINER", ok, "")), "output_mapping", "outputs_mapping", 1),
			`functions[0] "a": unknown field "outputs_mapping"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "bad.json", tt.content)
			// Nothing listens there: the file must be refused before any
			// request.
			_, err := runCLI(t, "http://127.0.0.1:1", "workflow", "start", path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("start %s = %v, want an error starting with the path and containing %q", tt.name, err, tt.want)
			}
		})
	}
}

// The demo, as the README runs it (images already built by the tests).
func TestE2E_Demo(t *testing.T) {
	t.Parallel()
	dir := exampleImages(t)
	var out, errOut strings.Builder
	root := NewRootCommand()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"demo", "--no-build", "--duration", "3s", "--examples", dir, "--state-dir", t.TempDir()})
	err := root.ExecuteContext(t.Context())
	t.Logf("demo output:\n%s\ndemo log:\n%s", out.String(), errOut.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	// Warnings a new user saw in every demo, about nothing wrong: plain text
	// on a loopback box, and the box's own node "lost" while the box shuts
	// down.
	for _, noise := range []string{"no tls_config.toml", "missed its refresh deadline"} {
		if strings.Contains(errOut.String(), noise) {
			t.Errorf("demo log has %q; want no such warning", noise)
		}
	}
	for _, want := range []string{
		"==> Started in-a-box", "==> Deploying", "started in", "==> Web console: http://127.0.0.1:",
		"ticker ──output──▶ transformer ──output──▶ sink",
		"sink: event 1: TICK 1",
		"==> Stopping workflow", "stopped in", "==> No container left behind", "==> Demo finished",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\n +sink +on node [0-9a-f]{8} +running +started `).MatchString(out.String()) {
		t.Errorf("demo output lacks the sink's node, state and start time under the workflow's shape")
	}
	// The count the sink answers and the lines shown agree.
	m := regexp.MustCompile(`received (\d+) events \(call "count"\): the (\d+) lines above`).FindStringSubmatch(out.String())
	if m == nil || m[1] != m[2] {
		t.Errorf("demo output: count and lines shown = %q, want them equal", m)
	} else if shown := strings.Count(out.String(), " sink: event "); strconv.Itoa(shown) != m[1] {
		t.Errorf("demo output: %d event lines, but it says %s", shown, m[1])
	}
}

// The mixed demo: a RUST_WASM transformer between two containers.
func TestE2E_DemoMixed(t *testing.T) {
	t.Parallel()
	dir := exampleImages(t)
	var out strings.Builder
	root := NewRootCommand()
	root.SetOut(&out)
	root.SetErr(t.Output())
	root.SetArgs([]string{"demo", "--no-build", "--mixed", "--duration", "3s", "--examples", dir, "--state-dir", t.TempDir()})
	err := root.ExecuteContext(t.Context())
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo --mixed: %v", err)
	}
	for _, want := range []string{
		"compiled wasmtransformer into a WASM module", "workflow-mixed.json", "sink: event 1: 1 kcit",
		"==> No container left behind", "==> Demo finished",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
