package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Spec is a workflow file as written: upstream's workflow JSON.
type Spec struct {
	// Functions are the workflow's functions, in file order.
	Functions []Function
	// Resources are the workflow's resources, in file order.
	Resources []Resource
	// Annotations are the workflow-wide annotations.
	Annotations map[string]string
}

// Function is one entry of "functions".
type Function struct {
	// Name is the function's name, unique within the workflow.
	Name string
	// Class is its "class_specification".
	Class ClassSpec
	// OutputMapping maps an output channel to the name of a function or
	// resource of the workflow.
	OutputMapping map[string]string
	// Annotations are the function's annotations, e.g. "init-payload".
	Annotations map[string]string
}

// ClassSpec is a function's "class_specification".
type ClassSpec struct {
	// ID is the function class name.
	ID string
	// FunctionType selects the runtime: "CONTAINER" or "RUST_WASM".
	FunctionType string
	// Version is free-form.
	Version string
	// Code is "container:<image>" or "grpc:<url>" for containers, and the
	// path of the .wasm file (relative to the workflow file) for RUST_WASM.
	Code string
	// Binary is inline code, as upstream's optional "binary" byte array.
	Binary []byte
	// Outputs lists the class's output channels; informational, as upstream.
	Outputs []string
}

// Resource is one entry of "resources".
type Resource struct {
	// Name is the resource's name, unique within the workflow.
	Name string
	// ClassType is the resource class, e.g. "file-log".
	ClassType string
	// OutputMapping maps an output channel to a function or resource name.
	OutputMapping map[string]string
	// Configurations is the class-specific configuration.
	Configurations map[string]string
}

// Parse reads a workflow file's content. It checks the JSON structure only:
// syntax (with line and column), required and unknown fields, and the type
// of every value. Validate checks what the fields mean.
func Parse(data []byte) (*Spec, error) {
	var top json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return nil, syntaxError(data, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: unexpected data after the workflow object", position(data, dec.InputOffset()))
	}
	obj, err := object(top, "workflow", []string{"functions", "resources", "annotations"}, nil)
	if err != nil {
		return nil, err
	}
	var s Spec
	fns, err := array(obj["functions"], "functions")
	if err != nil {
		return nil, err
	}
	for i, raw := range fns {
		f, err := parseFunction(raw, fmt.Sprintf("functions[%d]", i))
		if err != nil {
			return nil, err
		}
		s.Functions = append(s.Functions, f)
	}
	res, err := array(obj["resources"], "resources")
	if err != nil {
		return nil, err
	}
	for i, raw := range res {
		r, err := parseResource(raw, fmt.Sprintf("resources[%d]", i))
		if err != nil {
			return nil, err
		}
		s.Resources = append(s.Resources, r)
	}
	if s.Annotations, err = stringMap(obj["annotations"], "annotations"); err != nil {
		return nil, err
	}
	return &s, nil
}

func parseFunction(raw json.RawMessage, path string) (Function, error) {
	var f Function
	path = named(raw, path)
	obj, err := object(raw, path, []string{"name", "class_specification", "output_mapping", "annotations"}, nil)
	if err != nil {
		return f, err
	}
	if f.Name, err = str(obj["name"], path+".name"); err != nil {
		return f, err
	}
	cpath := path + ".class_specification"
	cobj, err := object(obj["class_specification"], cpath,
		[]string{"id", "function_type", "version", "outputs"}, []string{"code", "binary"})
	if err != nil {
		return f, err
	}
	c := &f.Class
	if c.ID, err = str(cobj["id"], cpath+".id"); err != nil {
		return f, err
	}
	if c.FunctionType, err = str(cobj["function_type"], cpath+".function_type"); err != nil {
		return f, err
	}
	if c.Version, err = str(cobj["version"], cpath+".version"); err != nil {
		return f, err
	}
	if v, ok := cobj["code"]; ok && !isNull(v) {
		if c.Code, err = str(v, cpath+".code"); err != nil {
			return f, err
		}
	}
	if v, ok := cobj["binary"]; ok && !isNull(v) {
		// serde writes Vec<u8> as an array of numbers.
		var b []int
		if err := json.Unmarshal(v, &b); err != nil {
			return f, fmt.Errorf("%s.binary: want an array of bytes (0-255), got %s", cpath, kind(v))
		}
		for i, x := range b {
			if x < 0 || x > 255 {
				return f, fmt.Errorf("%s.binary[%d]: %d is not a byte (0-255)", cpath, i, x)
			}
			c.Binary = append(c.Binary, byte(x))
		}
	}
	outs, err := array(cobj["outputs"], cpath+".outputs")
	if err != nil {
		return f, err
	}
	for i, o := range outs {
		s, err := str(o, fmt.Sprintf("%s.outputs[%d]", cpath, i))
		if err != nil {
			return f, err
		}
		c.Outputs = append(c.Outputs, s)
	}
	if f.OutputMapping, err = stringMap(obj["output_mapping"], path+".output_mapping"); err != nil {
		return f, err
	}
	if f.Annotations, err = stringMap(obj["annotations"], path+".annotations"); err != nil {
		return f, err
	}
	return f, nil
}

func parseResource(raw json.RawMessage, path string) (Resource, error) {
	var r Resource
	path = named(raw, path)
	obj, err := object(raw, path, []string{"name", "class_type", "output_mapping", "configurations"}, nil)
	if err != nil {
		return r, err
	}
	if r.Name, err = str(obj["name"], path+".name"); err != nil {
		return r, err
	}
	if r.ClassType, err = str(obj["class_type"], path+".class_type"); err != nil {
		return r, err
	}
	if r.OutputMapping, err = stringMap(obj["output_mapping"], path+".output_mapping"); err != nil {
		return r, err
	}
	if r.Configurations, err = stringMap(obj["configurations"], path+".configurations"); err != nil {
		return r, err
	}
	return r, nil
}

// named labels a component's path with its name when it has a string name,
// so that errors about it read: functions[1] "sink": ...
func named(raw json.RawMessage, path string) string {
	var v struct {
		Name *string `json:"name"`
	}
	if json.Unmarshal(raw, &v) == nil && v.Name != nil {
		return label(path, *v.Name)
	}
	return path
}

// label adds a component's name to its path: functions[1] "sink".
func label(path, name string) string {
	return fmt.Sprintf("%s %q", path, name)
}

// object decodes a JSON object, checking that every required field is
// present and that no field is unknown.
func object(raw json.RawMessage, path string, required, optional []string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if isNull(raw) || json.Unmarshal(raw, &m) != nil {
		return nil, fmt.Errorf("%s: want an object, got %s", path, kind(raw))
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		known := append(slices.Clone(required), optional...)
		return nil, fmt.Errorf("%s: unknown field %q (known fields: %s)", path, unknown[0], strings.Join(known, ", "))
	}
	// Unknown fields first: a typo then reads as a typo, not as a missing field.
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("%s: missing field %q", path, k)
		}
	}
	return m, nil
}

func array(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	var a []json.RawMessage
	if isNull(raw) || json.Unmarshal(raw, &a) != nil {
		return nil, fmt.Errorf("%s: want an array, got %s", path, kind(raw))
	}
	return a, nil
}

func str(raw json.RawMessage, path string) (string, error) {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%s: want a string, got %s", path, kind(raw))
	}
	return s, nil
}

func stringMap(raw json.RawMessage, path string) (map[string]string, error) {
	var m map[string]json.RawMessage
	if isNull(raw) || json.Unmarshal(raw, &m) != nil {
		return nil, fmt.Errorf("%s: want an object of strings, got %s", path, kind(raw))
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, err := str(v, fmt.Sprintf("%s[%s]", path, k))
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// kind names a JSON value's type for error messages.
func kind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// syntaxError turns a decoding error into one with a line and column.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte; point at it.
		return fmt.Errorf("%s: invalid JSON: %w", position(data, se.Offset-1), err)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty workflow file")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: invalid JSON: unexpected end of file", position(data, int64(len(data))))
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// position converts a byte offset into "line L, column C" (1-based).
func position(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}
