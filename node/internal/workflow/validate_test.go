package workflow

import (
	"errors"
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/protobuf/proto"
)

func goodRequest(t *testing.T) *edgelessapi.SpawnWorkflowRequest {
	t.Helper()
	s, err := Parse([]byte(goodJSON))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	req, err := s.Request(t.TempDir())
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	return req
}

func TestValidate_Good(t *testing.T) {
	t.Parallel()
	if err := Validate(goodRequest(t)); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}

func TestValidate_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(r *edgelessapi.SpawnWorkflowRequest)
		want   []string
	}{
		{"no functions", func(r *edgelessapi.SpawnWorkflowRequest) { r.WorkflowFunctions = nil },
			[]string{"functions: the workflow has no functions"}},
		{"unknown target", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[0].OutputMapping["output"] = "snk"
		}, []string{`functions[0] "ticker".output_mapping[output]: unknown target "snk" (the workflow has: ticker, sink)`}},
		{"duplicate names", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[1].Name = "ticker"
		}, []string{`functions[1] "ticker": duplicate name "ticker" (also functions[0] "ticker")`}},
		{"duplicate with resource", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowResources = append(r.WorkflowResources, &edgelessapi.WorkflowResource{Name: "sink", ClassType: "file-log"})
		}, []string{`resources[0] "sink": duplicate name "sink" (also functions[1] "sink")`}},
		{"empty name", func(r *edgelessapi.SpawnWorkflowRequest) { r.WorkflowFunctions[1].Name = "" },
			[]string{`functions[1] "".name: empty`, `unknown target "sink"`}},
		{"bad code kind", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[0].ClassSpec.Code = "docker:foo"
		}, []string{`functions[0] "ticker".class_specification.code: bad code string "docker:foo": unknown kind "docker"`}},
		{"code without colon", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[0].ClassSpec.Code = "edgeless-example-ticker"
		}, []string{`bad code string "edgeless-example-ticker": want "container:<image>" or "grpc:<url>"`}},
		{"no image", func(r *edgelessapi.SpawnWorkflowRequest) { r.WorkflowFunctions[0].ClassSpec.Code = "container:" },
			[]string{`bad code string "container:": no image after "container:"`}},
		{"bad image", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[0].ClassSpec.Code = "container:Ticker:dev"
		},
			[]string{`bad code string "container:Ticker:dev": image "Ticker:dev": invalid reference format: repository name (library/Ticker) must be lowercase`}},
		{"missing code", func(r *edgelessapi.SpawnWorkflowRequest) { r.WorkflowFunctions[0].ClassSpec.Code = "" },
			[]string{`functions[0] "ticker".class_specification.code: missing`}},
		{"bad grpc url", func(r *edgelessapi.SpawnWorkflowRequest) { r.WorkflowFunctions[0].ClassSpec.Code = "grpc:localhost" },
			[]string{`want "grpc:http://<host>:<port>"`}},
		{"grpc https, refused by the runtime", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[0].ClassSpec.Code = "grpc:https://10.0.0.1:7101"
		}, []string{`bad code string "grpc:https://10.0.0.1:7101": want "grpc:http://<host>:<port>"`}},
		{"grpc without port, refused by the runtime", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[0].ClassSpec.Code = "grpc:http://10.0.0.1"
		}, []string{`bad code string "grpc:http://10.0.0.1": want "grpc:http://<host>:<port>"`}},
		{"unknown type", func(r *edgelessapi.SpawnWorkflowRequest) { r.WorkflowFunctions[1].ClassSpec.FunctionType = "DOCKER" },
			[]string{`functions[1] "sink".class_specification.function_type: unknown function type "DOCKER" (known types: CONTAINER, RUST_WASM)`}},
		{"wasm without binary", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[1].ClassSpec.FunctionType = TypeRustWasm
		}, []string{`RUST_WASM function without code`}},
		{"missing class", func(r *edgelessapi.SpawnWorkflowRequest) { r.WorkflowFunctions[1].ClassSpec = nil },
			[]string{`functions[1] "sink".class_specification: missing`}},
		{"two problems", func(r *edgelessapi.SpawnWorkflowRequest) {
			r.WorkflowFunctions[0].ClassSpec.FunctionType = "X"
			r.WorkflowFunctions[1].ClassSpec.Code = "container:"
		}, []string{"2 problems", `unknown function type "X"`, `no image after`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := proto.Clone(goodRequest(t)).(*edgelessapi.SpawnWorkflowRequest)
			tt.modify(req)
			err := Validate(req)
			if err == nil {
				t.Fatalf("Validate(%s) = nil, want an error", tt.name)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate(%s) = %v, not ErrInvalid", tt.name, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%s) = %q, want it to contain %q", tt.name, err, w)
				}
			}
		})
	}
}
