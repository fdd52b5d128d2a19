package workflow

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const goodJSON = `{
  "functions": [
    { "name": "ticker",
      "class_specification": { "id": "ticker", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:edgeless-example-ticker:dev", "outputs": ["output"] },
      "output_mapping": { "output": "sink" },
      "annotations": { "init-payload": "period-ms=500" } },
    { "name": "sink",
      "class_specification": { "id": "sink", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:edgeless-example-sink:dev", "outputs": [] },
      "output_mapping": {},
      "annotations": {} }
  ],
  "resources": [],
  "annotations": {}
}`

func TestParse_Good(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte(goodJSON))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Spec{
		Functions: []Function{
			{
				Name: "ticker",
				Class: ClassSpec{ID: "ticker", FunctionType: "CONTAINER", Version: "0.1",
					Code: "container:edgeless-example-ticker:dev", Outputs: []string{"output"}},
				OutputMapping: map[string]string{"output": "sink"},
				Annotations:   map[string]string{"init-payload": "period-ms=500"},
			},
			{
				Name: "sink",
				Class: ClassSpec{ID: "sink", FunctionType: "CONTAINER", Version: "0.1",
					Code: "container:edgeless-example-sink:dev"},
				OutputMapping: map[string]string{},
				Annotations:   map[string]string{},
			},
		},
		Annotations: map[string]string{},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

// TestParse_Upstream parses upstream's examples/container/workflow-rust.json
// (edgeless.md §5), binary array included.
func TestParse_Upstream(t *testing.T) {
	t.Parallel()
	const upstream = `{
  "functions": [
    { "name": "sensor_simulator",
      "class_specification": { "id": "sensor_simulator", "function_type": "RUST_WASM", "version": "0.1",
        "code": "../../functions/sensor_simulator/sensor_simulator.wasm", "outputs": ["output"] },
      "output_mapping": { "output": "delay" },
      "annotations": { "init-payload": "period=1000,min-value=-10,max-value=10,seed=42" } },
    { "name": "delay",
      "class_specification": { "id": "delay", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:edgeless_function:latest", "outputs": [], "binary": null },
      "output_mapping": { "output": "my-log" },
      "annotations": {} }
  ],
  "resources": [
    { "name": "my-log", "class_type": "file-log", "output_mapping": {},
      "configurations": { "filename": "my-local-file.log", "add-timestamp": "true" } }
  ],
  "annotations": {}
}`
	s, err := Parse([]byte(upstream))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := len(s.Functions) + len(s.Resources); got != 3 {
		t.Errorf("Parse: %d components, want 3", got)
	}
	if got, want := s.Resources[0].Configurations["filename"], "my-local-file.log"; got != want {
		t.Errorf("filename = %q, want %q", got, want)
	}
}

func TestParse_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "  ", "empty workflow file"},
		{"syntax", "{\n  \"functions\": [,]\n}", "line 2, column 17: invalid JSON"},
		{"truncated", "{\n  \"functions\": [", "line 2, column 17: invalid JSON: unexpected end of file"},
		{"trailing", `{"functions":[],"resources":[],"annotations":{}} {}`, "unexpected data after the workflow object"},
		{"not object", `[]`, "workflow: want an object, got an array"},
		{"missing resources", `{"functions":[],"annotations":{}}`, `workflow: missing field "resources"`},
		{"unknown top", `{"functions":[],"resources":[],"annotations":{},"alias":"x"}`,
			`workflow: unknown field "alias" (known fields: functions, resources, annotations)`},
		{"functions not array", `{"functions":{},"resources":[],"annotations":{}}`, "functions: want an array, got an object"},
		{"annotations null", `{"functions":[],"resources":[],"annotations":null}`, "annotations: want an object of strings, got null"},
		{"missing output_mapping", strings.Replace(goodJSON, `"output_mapping": {},`, "", 1),
			`functions[1] "sink": missing field "output_mapping"`},
		{"typo in function", strings.Replace(goodJSON, `"output_mapping": {},`, `"output_maping": {},`, 1),
			`functions[1] "sink": unknown field "output_maping"`},
		{"name not string", strings.Replace(goodJSON, `"name": "sink"`, `"name": 3`, 1),
			`functions[1].name: want a string, got a number`},
		{"missing function_type", strings.Replace(goodJSON, `"function_type": "CONTAINER", "version": "0.1",
        "code": "container:edgeless-example-sink:dev"`, `"version": "0.1", "code": "x"`, 1),
			`functions[1] "sink".class_specification: missing field "function_type"`},
		{"annotation value not string", strings.Replace(goodJSON, `"period-ms=500"`, `500`, 1),
			`functions[0] "ticker".annotations[init-payload]: want a string, got a number`},
		{"outputs not strings", strings.Replace(goodJSON, `"outputs": ["output"]`, `"outputs": [1]`, 1),
			`functions[0] "ticker".class_specification.outputs[0]: want a string, got a number`},
		{"binary bad", strings.Replace(goodJSON, `"outputs": []`, `"outputs": [], "binary": [1, 300]`, 1),
			`functions[1] "sink".class_specification.binary[1]: 300 is not a byte`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%s) = nil error, want %q", tt.name, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%s) = %q, want it to contain %q", tt.name, err, tt.want)
			}
		})
	}
}
