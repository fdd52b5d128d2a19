package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/google/go-cmp/cmp"
)

func TestShapeLines(t *testing.T) {
	t.Parallel()
	fn := func(name string, m map[string]string) *edgelessapi.WorkflowFunction {
		return &edgelessapi.WorkflowFunction{Name: name, OutputMapping: m}
	}
	tests := []struct {
		name string
		fns  []*edgelessapi.WorkflowFunction
		want []string
	}{
		{name: "chain in reverse file order",
			fns:  []*edgelessapi.WorkflowFunction{fn("sink", nil), fn("transformer", map[string]string{"output": "sink"}), fn("ticker", map[string]string{"output": "transformer"})},
			want: []string{"ticker ──output──▶ transformer ──output──▶ sink"}},
		{name: "fan-out",
			fns:  []*edgelessapi.WorkflowFunction{fn("a", map[string]string{"x": "b", "y": "c"}), fn("b", nil), fn("c", nil)},
			want: []string{"a ──x──▶ b", "a ──y──▶ c"}},
		{name: "cycle and a loner",
			fns:  []*edgelessapi.WorkflowFunction{fn("a", map[string]string{"o": "b"}), fn("b", map[string]string{"o": "a"}), fn("c", nil)},
			want: []string{"a ──o──▶ b", "b ──o──▶ a", "c (no outputs mapped, nothing maps to it)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := shapeLines(&edgelessapi.SpawnWorkflowRequest{WorkflowFunctions: tt.fns})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("shapeLines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWorkflowValidate runs `edgeless workflow validate` with no controller:
// the example is valid and drawn, a typo'd annotation is a warning naming
// the known ones, and a bad target is an error.
func TestWorkflowValidate(t *testing.T) {
	t.Parallel()
	const unreachable = "http://127.0.0.1:1" // validate must not need it
	good, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "workflow.json"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(content string) (string, string, error) {
		root := NewRootCommand()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs([]string{"--controller-url", unreachable, "workflow", "validate", writeFile(t, "wf.json", content)})
		err := root.ExecuteContext(t.Context())
		return out.String(), errOut.String(), err
	}
	out, errOut, err := run(string(good))
	if err != nil || !strings.Contains(out, "valid; 3 function(s)") || !strings.Contains(out, "ticker ──output──▶ transformer ──output──▶ sink") || errOut != "" {
		t.Errorf("validate(example) = %v, stdout %q, stderr %q; want valid, its shape, no warning", err, out, errOut)
	}
	_, errOut, err = run(strings.Replace(string(good), `"init-payload": "mode=upper"`, `"init_payload": "mode=upper"`, 1))
	if err != nil || !strings.Contains(errOut, `warning: functions[1] "transformer".annotations: unknown annotation "init_payload"`) ||
		!strings.Contains(errOut, "known: init-payload") {
		t.Errorf("validate(typo) = %v, stderr %q; want a warning naming the known annotations", err, errOut)
	}
	_, _, err = run(strings.Replace(string(good), `"output": "sink"`, `"output": "snk"`, 1))
	if err == nil || !strings.Contains(err.Error(), `unknown target "snk"`) {
		t.Errorf("validate(bad target) = %v, want unknown target", err)
	}
}
