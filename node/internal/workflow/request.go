package workflow

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// Request turns the spec into a SpawnWorkflowRequest, as upstream's
// edgeless_cli does: CONTAINER code passes through unchanged; RUST_WASM code
// is the path of a .wasm file, relative to dir, whose content becomes the
// class's binary.
func (s *Spec) Request(dir string) (*edgelessapi.SpawnWorkflowRequest, error) {
	req := &edgelessapi.SpawnWorkflowRequest{Annotations: s.Annotations}
	for i, f := range s.Functions {
		c := f.Class
		spec := &edgelessapi.FunctionClassSpecification{
			Id:           c.ID,
			FunctionType: c.FunctionType,
			Version:      c.Version,
			Code:         c.Code,
			Binary:       c.Binary,
			Outputs:      c.Outputs,
		}
		if c.FunctionType == TypeRustWasm && len(c.Binary) == 0 && c.Code != "" {
			path := c.Code
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			b, err := readModule(path)
			if err != nil {
				return nil, fmt.Errorf("%s.class_specification.code: read RUST_WASM code: %w",
					label(fmt.Sprintf("functions[%d]", i), f.Name), err)
			}
			spec.Binary = b // code stays as given, as upstream's CLI keeps it
		}
		req.WorkflowFunctions = append(req.WorkflowFunctions, &edgelessapi.WorkflowFunction{
			Name:          f.Name,
			ClassSpec:     spec,
			OutputMapping: f.OutputMapping,
			Annotations:   f.Annotations,
		})
	}
	for _, r := range s.Resources {
		req.WorkflowResources = append(req.WorkflowResources, &edgelessapi.WorkflowResource{
			Name:           r.Name,
			ClassType:      r.ClassType,
			OutputMapping:  r.OutputMapping,
			Configurations: r.Configurations,
		})
	}
	return req, nil
}

// MaxModuleBytes bounds a RUST_WASM module read from a workflow's code path
// (the node's own default limit).
const MaxModuleBytes = 32 << 20

// readModule reads a .wasm file: a regular file of at most MaxModuleBytes.
func readModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > MaxModuleBytes {
		return nil, fmt.Errorf("%s has %d bytes, more than the limit of %d", path, st.Size(), MaxModuleBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxModuleBytes {
		return nil, fmt.Errorf("%s has more than the limit of %d bytes", path, MaxModuleBytes)
	}
	return b, nil
}

// Load reads, parses and validates the workflow file at path and returns the
// request to send to WorkflowInstance.Start. Errors start with the path.
func Load(path string) (*edgelessapi.SpawnWorkflowRequest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read workflow: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	req, err := s.Request(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := Validate(req); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return req, nil
}
