package workflow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad_Good(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "workflow.json")
	if err := os.WriteFile(path, []byte(goodJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	req, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	f := req.GetWorkflowFunctions()[0]
	if got, want := f.GetAnnotations()[AnnotationInitPayload], "period-ms=500"; got != want {
		t.Errorf("init-payload = %q, want %q", got, want)
	}
	if got, want := f.GetClassSpec().GetCode(), "container:edgeless-example-ticker:dev"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
}

func TestLoad_Errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope.json"), "read workflow: open"},
		{"syntax", write("syntax.json", "{"), "syntax.json: line 1, column 2: invalid JSON"},
		{"semantic", write("sem.json", strings.Replace(goodJSON, `"output": "sink"`, `"output": "snk"`, 1)),
			`sem.json: invalid workflow: functions[0] "ticker".output_mapping[output]: unknown target "snk"`},
		{"wasm file missing", write("wasm.json", strings.Replace(goodJSON,
			`"function_type": "CONTAINER", "version": "0.1",
        "code": "container:edgeless-example-sink:dev"`,
			`"function_type": "RUST_WASM", "version": "0.1", "code": "sink.wasm"`, 1)),
			`wasm.json: functions[1] "sink".class_specification.code: read RUST_WASM code: open`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) = %v, want an error containing %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestLoad_RustWasmReadsBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sink.wasm"), []byte("\x00asm"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "w.json")
	content := strings.Replace(goodJSON, `"function_type": "CONTAINER", "version": "0.1",
        "code": "container:edgeless-example-sink:dev"`, `"function_type": "RUST_WASM", "version": "0.1", "code": "sink.wasm"`, 1)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	req, err := Load(p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	c := req.GetWorkflowFunctions()[1].GetClassSpec()
	if string(c.GetBinary()) != "\x00asm" || c.GetCode() != "sink.wasm" {
		t.Errorf("class = binary %q code %q, want the file's bytes and the code as given", c.GetBinary(), c.GetCode())
	}
}

// The example workflow of the repository is valid and wires
// ticker -> transformer -> sink.
func TestLoad_ExampleWorkflow(t *testing.T) {
	t.Parallel()
	req, err := Load(filepath.Join("..", "..", "..", "examples", "workflow.json"))
	if err != nil {
		t.Fatalf("Load(examples/workflow.json): %v", err)
	}
	mapping := map[string]string{}
	for _, f := range req.GetWorkflowFunctions() {
		mapping[f.GetName()] = f.GetOutputMapping()["output"]
	}
	if mapping["ticker"] != "transformer" || mapping["transformer"] != "sink" || len(mapping) != 3 {
		t.Errorf("example wiring = %v, want ticker -> transformer -> sink", mapping)
	}
}

func TestLoad_RustWasmCodeNotAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sink.wasm"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "w.json")
	content := strings.Replace(goodJSON, `"function_type": "CONTAINER", "version": "0.1",
        "code": "container:edgeless-example-sink:dev"`, `"function_type": "RUST_WASM", "version": "0.1", "code": "sink.wasm"`, 1)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("Load with a directory as RUST_WASM code = %v, want an error saying it is not a regular file", err)
	}
}
