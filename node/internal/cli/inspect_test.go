package cli

import (
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// A RUST_WASM instance has no container: inspect says so instead of "-".
func TestPrintWorkflow_WasmInstance(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	v := &WorkflowView{WorkflowID: "wf", Functions: []InstanceView{
		{Name: "transformer", FunctionID: "f1", State: "running", FunctionType: "RUST_WASM"},
		{Name: "sink", FunctionID: "f2", State: "running", FunctionType: "CONTAINER", ContainerName: "edgeless-f2", ContainerID: "0123456789ab", Image: "sink:dev"},
	}}
	if err := printWorkflow(&b, v); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if len(lines) < 4 || !strings.Contains(lines[2], "none (RUST_WASM, in-process)") || !strings.Contains(lines[3], "edgeless-f2 (01234567)") {
		t.Errorf("printWorkflow =\n%s\nwant the WASM row to say it has no container, the container row its name", b.String())
	}
}

// A pool hit shows in the start steps, and the create step is absent.
func TestFmtSteps_PoolHit(t *testing.T) {
	t.Parallel()
	v := func(f float64) *float64 { return &f }
	if got, want := fmtSteps(&adminapi.Steps{PoolHit: true, ImageMS: v(1.5), BootMS: v(8), InitMS: v(2)}), "pool hit, image 1.5ms, boot 8.0ms, init 2.0ms"; got != want {
		t.Errorf("fmtSteps(hit) = %q, want %q", got, want)
	}
	if got := fmtSteps(&adminapi.Steps{ImageMS: v(1.5), CreateMS: v(90), BootMS: v(200), InitMS: v(2)}); strings.Contains(got, "pool") || !strings.Contains(got, "create ") {
		t.Errorf("fmtSteps(miss) = %q, want the create step and no pool hit", got)
	}
}
