package workflow

import (
	"fmt"
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
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("%s.class_specification.code: read RUST_WASM code: %w",
					label(fmt.Sprintf("functions[%d]", i), f.Name), err)
			}
			spec.Binary, spec.Code = b, ""
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
