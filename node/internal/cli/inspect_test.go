package cli

import (
	"strings"
	"testing"
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
