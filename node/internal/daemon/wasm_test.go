package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

var wasmExample struct {
	sync.Once
	bin []byte
	err error
}

// wasmExampleModule builds the Go SDK's example function
// (function-template/cmd/wasmexample) as a RUST_WASM module.
func wasmExampleModule(t testing.TB) []byte {
	t.Helper()
	wasmExample.Do(func() {
		dir, err := os.MkdirTemp("", "wasmexample")
		if err != nil {
			wasmExample.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "fn.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./cmd/wasmexample")
		cmd.Dir = "../../../function-template"
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			wasmExample.err = &buildError{err, string(b)}
			return
		}
		wasmExample.bin, wasmExample.err = os.ReadFile(out)
	})
	if wasmExample.err != nil {
		t.Fatalf("build the wasm example: %v", wasmExample.err)
	}
	return wasmExample.bin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// withWasm enables the WASM runtime, keeping compiled code on disk (a Go
// module compiles slowly under the race detector).
func withWasm(c *config.Config) {
	c.WasmRuntime.Enabled = true
	c.WasmRuntime.CacheDir = filepath.Join(os.TempDir(), "edgeless-wasm-test-cache")
}

// startWasm starts an instance of the Go example module; it returns the
// function id, or the ResponseError's detail.
func (n *testNode) startWasm(t *testing.T, bin []byte, stateID string) (string, string) {
	t.Helper()
	res, err := n.fi.Start(t.Context(), &edgelessapi.SpawnFunctionRequest{
		Code: &edgelessapi.FunctionClassSpecification{Id: "wasmexample", FunctionType: "RUST_WASM", Version: "0.1",
			Code: "wasmexample.wasm", Binary: bin},
		Annotations:        map[string]string{"init-payload": "hello"},
		StateSpecification: &edgelessapi.StateSpecification{StateId: stateID, Policy: edgelessapi.StatePolicy_NODE_LOCAL},
		WorkflowId:         "wf",
	})
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	if e := res.GetResponseError(); e != nil {
		return "", e.GetSummary() + ": " + e.GetDetail()
	}
	return res.GetInstanceId().GetInstanceId().GetFunctionId(), ""
}

// A node with only the WASM runtime: registration, Start with real bytes,
// events through the data plane, state across instances, admin API, a bad
// module reported at Start.
func TestWasm_Node(t *testing.T) {
	t.Parallel()
	bin := wasmExampleModule(t)
	orc := startOrc(t)
	cfg := testConfig(t, false, orc.url)
	withWasm(cfg)
	n := startNode(t, cfg)
	nodeID := cfg.General.NodeID
	if got := orc.waitFor(t, nodeID, 1)[0].GetCapabilities().GetRuntimes(); !slices.Equal(got, []string{"RUST_WASM"}) {
		t.Errorf("registered runtimes = %q, want [RUST_WASM]", got)
	}
	stateID := uuid.NewString()
	a, e := n.startWasm(t, bin, stateID)
	b, e2 := n.startWasm(t, bin, uuid.NewString())
	if e != "" || e2 != "" {
		t.Fatalf("Start = %s %s", e, e2)
	}
	n.patch(t, a, map[string]*edgelessapi.InstanceId{"out": n.instanceID(b)})
	n.patch(t, b, map[string]*edgelessapi.InstanceId{"out": n.instanceID(a)})
	// A -> B -> A -> B (echo), through the data plane.
	if got := n.call(t, a, "recall out recall out recall out deep"); got != "deep" {
		t.Errorf("A: recall chain = %q, want %q", got, "deep")
	}
	if got := n.call(t, a, "self"); got != nodeID+" "+a {
		t.Errorf("A: self = %q, want %q", got, nodeID+" "+a)
	}
	if got := n.call(t, a, "sync v1"); got != "ok" {
		t.Fatalf("sync = %q", got)
	}
	for _, in := range n.instances(t) {
		if in.FunctionType != "RUST_WASM" || in.State != "running" || in.ClassID != "wasmexample" {
			t.Errorf("admin instance = %+v, want a running RUST_WASM wasmexample", in)
		}
		if in.InitMS == nil || *in.InitMS <= 0 || in.CreateMS == nil || *in.CreateMS <= 0 {
			t.Errorf("admin instance steps = %+v, want create and init times above 0 ms (to the microsecond)", in.Steps)
		}
	}
	code, body := n.admin(t, "GET", "/admin/v1/instances/"+a+"/logs", "")
	if code != 200 || !strings.Contains(string(body), `init payload=\"hello\"`) {
		t.Errorf("logs of A = %d %s, want the init log line", code, body)
	}
	n.stopFn(t, a)
	a2, e := n.startWasm(t, bin, stateID)
	if e != "" {
		t.Fatal(e)
	}
	if got := n.call(t, a2, "state"); got != "v1" {
		t.Errorf("state of the restarted instance = %q, want v1", got)
	}
	if _, e := n.startWasm(t, []byte("\x00asm\x01\x00\x00\x00"), uuid.NewString()); !strings.Contains(e, `exports no memory named "memory": bad wasm module`) {
		t.Errorf("Start of a module without exports = %q, want a ResponseError naming the missing memory", e)
	}
	if _, e := n.startWasm(t, nil, uuid.NewString()); !strings.Contains(e, "no binary") {
		t.Errorf("Start without a binary = %q, want a ResponseError saying so", e)
	}
	n.stopFn(t, a2)
	n.stopFn(t, b)
	if got := n.instances(t); len(got) != 0 {
		t.Errorf("instances after stopping = %+v, want none", got)
	}
}

// A workflow mixing a WASM function and a container function: A (WASM) ->
// C (container) -> A calls, and casts both ways, through the data plane.
func TestDocker_WasmAndContainer(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	bin := wasmExampleModule(t)
	orc := startOrc(t)
	n, dc := dockerNode(t, orc.url, withWasm)
	nodeID := n.cfg.General.NodeID
	if got := orc.waitFor(t, nodeID, 1)[0].GetCapabilities().GetRuntimes(); !slices.Equal(got, []string{"CONTAINER", "RUST_WASM"}) {
		t.Errorf("registered runtimes = %q, want [CONTAINER RUST_WASM]", got)
	}
	w, e := n.startWasm(t, bin, uuid.NewString())
	if e != "" {
		t.Fatal(e)
	}
	c := n.startFn(t, image, uuid.NewString())
	n.patch(t, w, map[string]*edgelessapi.InstanceId{"out": n.instanceID(c)})
	n.patch(t, c, map[string]*edgelessapi.InstanceId{"out": n.instanceID(w)})
	if got := n.call(t, w, "recall out recall out from-wasm"); got != "from-wasm" {
		t.Errorf("WASM -> container -> WASM = %q, want %q", got, "from-wasm")
	}
	if got := n.call(t, c, "recall out recall out from-container"); got != "from-container" {
		t.Errorf("container -> WASM -> container = %q, want %q", got, "from-container")
	}
	// A cast from the container reaches the WASM function, whose
	// "recast" goes back: the container's state shows it.
	if got := n.call(t, w, "castraw "+nodeID+" "+c+" sync via-cast"); got != "ok" {
		t.Fatalf("castraw = %q", got)
	}
	eventually(t, func() string {
		if got := n.call(t, c, "state"); got != "via-cast" {
			return "the container's state is " + got + ", want via-cast"
		}
		return ""
	})
	types := map[string]string{}
	for _, in := range n.instances(t) {
		types[in.FunctionID] = in.FunctionType
	}
	if types[w] != "RUST_WASM" || types[c] != "CONTAINER" {
		t.Errorf("admin function types = %v", types)
	}
	n.stopFn(t, w)
	n.stopFn(t, c)
	if got := containers(t, dc, nodeID); len(got) != 0 {
		t.Errorf("containers after stopping = %v, want none", got)
	}
}

// probeModule compiles runtime/wasm's hand-written test module with wabt's
// wat2wasm (skipping without it, failing with EDGELESS_REQUIRE_WABT=1).
func probeModule(t *testing.T) []byte {
	t.Helper()
	out, err := exec.Command("wat2wasm", "../../../runtime/wasm/testdata/probe.wat", "--output=-").Output()
	if err != nil {
		if os.Getenv("EDGELESS_REQUIRE_WABT") == "1" {
			t.Fatalf("wat2wasm: %v", err)
		}
		t.Skipf("wat2wasm unavailable (apt-get install wabt): %v", err)
	}
	return out
}

// A trap and an endless loop end the instance, which the node reports
// (admin state, log with the reason) instead of hanging.
func TestWasm_NodeTrapAndDeadline(t *testing.T) {
	t.Parallel()
	bin := probeModule(t)
	cfg := testConfig(t, false, "")
	withWasm(cfg)
	cfg.WasmRuntime.CallTimeoutSec = 1
	n := startNode(t, cfg)
	for _, tt := range []struct{ cmd, reason string }{{"t", "trap: unreachable"}, {"L", "deadline exceeded"}} {
		id, e := n.startWasm(t, bin, uuid.NewString())
		if e != "" {
			t.Fatal(e)
		}
		// The cast is queued (204); its failure is the instance's end.
		if code, body := n.admin(t, "POST", "/admin/v1/instances/"+id+"/cast", tt.cmd); code != 204 {
			t.Fatalf("cast %q = %d %s, want 204", tt.cmd, code, body)
		}
		eventually(t, func() string {
			if !strings.Contains(n.logs.String(), `"msg":"instance ended on its own","node":"`+cfg.General.NodeID+`","component":"agent","instance":"`+id) ||
				!strings.Contains(n.logs.String(), tt.reason) {
				return "the node log does not report instance " + id + " ended with " + tt.reason
			}
			return ""
		})
		for _, in := range n.instances(t) {
			if in.FunctionID == id && in.State != "exited" {
				t.Errorf("admin state after %q = %s, want exited", tt.cmd, in.State)
			}
		}
	}
}
