package workflow

import (
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

func TestWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		annotations map[string]string
		want        []string // substrings of the one warning; nil: no warning
	}{
		{name: "known", annotations: map[string]string{"init-payload": "x", "container.memory": "64MiB", "node_id_match_any": "a"}},
		{name: "typo of init-payload", annotations: map[string]string{"init_payload": "x"},
			want: []string{`functions[0] "f".annotations: unknown annotation "init_payload"`, `did you mean "init-payload"?`, "known: init-payload, node_id_match_any"}},
		{name: "unrelated", annotations: map[string]string{"colour": "blue"},
			want: []string{`unknown annotation "colour" is ignored (known: init-payload`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &edgelessapi.SpawnWorkflowRequest{WorkflowFunctions: []*edgelessapi.WorkflowFunction{{Name: "f", Annotations: tt.annotations}}}
			got := Warnings(req)
			if tt.want == nil {
				if len(got) != 0 {
					t.Errorf("Warnings = %q, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("Warnings = %q, want one", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("Warnings = %q, want it to contain %q", got[0], w)
				}
			}
		})
	}
}
