package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Function types that EDGELESS defines. A workflow may name only these; the
// orchestrator then places each function on a node whose runtimes include
// its type.
const (
	TypeContainer = container.FunctionType
	TypeRustWasm  = "RUST_WASM"
)

// KnownTypes lists the function types in the order error messages name them.
var KnownTypes = []string{TypeContainer, TypeRustWasm}

// AnnotationInitPayload is the function annotation whose value the node
// passes to the instance's Init.
const AnnotationInitPayload = contract.AnnotationInitPayload

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("invalid workflow")

// ValidationError lists everything wrong with a workflow.
type ValidationError struct {
	// Problems are the individual findings, each naming where it is.
	Problems []string
}

// Error joins the problems on one line.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid workflow: " + e.Problems[0]
	}
	return fmt.Sprintf("invalid workflow: %d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validate checks what a workflow's fields mean: there is at least one
// function or resource; names are non-empty and unique among functions and resources;
// every output_mapping target names a function or resource of the
// workflow; every function type is known; container code is
// "container:<image reference>" or "grpc:<http(s) URL>"; RUST_WASM
// functions carry their binary. It returns a *ValidationError listing every
// problem, or nil.
func Validate(req *edgelessapi.SpawnWorkflowRequest) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(req.GetWorkflowFunctions()) == 0 && len(req.GetWorkflowResources()) == 0 {
		add("functions: the workflow has no functions and no resources")
	}
	names := map[string]string{} // name -> path of its first use
	var targets []string
	for i, f := range req.GetWorkflowFunctions() {
		path := label(fmt.Sprintf("functions[%d]", i), f.GetName())
		checkName(f.GetName(), path, names, add)
		targets = append(targets, f.GetName())
	}
	for i, r := range req.GetWorkflowResources() {
		path := label(fmt.Sprintf("resources[%d]", i), r.GetName())
		checkName(r.GetName(), path, names, add)
		targets = append(targets, r.GetName())
	}
	for i, f := range req.GetWorkflowFunctions() {
		path := label(fmt.Sprintf("functions[%d]", i), f.GetName())
		checkClass(f.GetClassSpec(), path+".class_specification", add)
		checkMapping(f.GetOutputMapping(), path+".output_mapping", targets, add)
	}
	for i, r := range req.GetWorkflowResources() {
		path := label(fmt.Sprintf("resources[%d]", i), r.GetName())
		if r.GetClassType() == "" {
			add("%s.class_type: empty", path)
		}
		checkMapping(r.GetOutputMapping(), path+".output_mapping", targets, add)
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

func checkName(name, path string, seen map[string]string, add func(string, ...any)) {
	switch {
	case name == "":
		add("%s.name: empty", path)
	case seen[name] != "":
		add("%s: duplicate name %q (also %s)", path, name, seen[name])
	default:
		seen[name] = path
	}
}

func checkClass(c *edgelessapi.FunctionClassSpecification, path string, add func(string, ...any)) {
	if c == nil {
		add("%s: missing", path)
		return
	}
	if c.GetId() == "" {
		add("%s.id: empty", path)
	}
	switch c.GetFunctionType() {
	case TypeContainer:
		if len(c.GetBinary()) > 0 {
			add("%s.binary: a CONTAINER function has no binary; its code is \"container:<image>\"", path)
		}
		if err := CheckContainerCode(c.GetCode()); err != nil {
			add("%s.code: %v", path, err)
		}
	case TypeRustWasm:
		if len(c.GetBinary()) == 0 {
			add("%s: RUST_WASM function without code (give the .wasm file's path in \"code\")", path)
		}
	case "":
		add("%s.function_type: empty (known types: %s)", path, strings.Join(KnownTypes, ", "))
	default:
		add("%s.function_type: unknown function type %q (known types: %s)", path, c.GetFunctionType(), strings.Join(KnownTypes, ", "))
	}
}

func checkMapping(m map[string]string, path string, targets []string, add func(string, ...any)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch t := m[k]; {
		case k == "":
			add("%s: empty output channel name", path)
		case !slices.Contains(targets, t):
			add("%s[%s]: unknown target %q (the workflow has: %s)", path, k, t, strings.Join(targets, ", "))
		}
	}
}

// CheckContainerCode checks a container function's code string with the
// runtime's own parser, so that a workflow the node would refuse is refused
// here: "container:<image reference>" or "grpc:http://<host>:<port>".
func CheckContainerCode(code string) error {
	if code == "" {
		return errors.New(`missing: want "container:<image>" or "grpc:<url>"`)
	}
	var ce *container.CodeError
	if err := container.CheckCode(code); errors.As(err, &ce) {
		return fmt.Errorf("bad code string %q: %s", code, ce.Reason)
	} else if err != nil {
		return err
	}
	// Stricter than the runtime, which leaves image names to Docker: a
	// name Docker would refuse is refused before anything starts.
	if image, ok := strings.CutPrefix(code, "container:"); ok {
		if _, err := reference.ParseNormalizedNamed(image); err != nil {
			return fmt.Errorf("bad code string %q: image %q: %w", code, image, err)
		}
	}
	return nil
}
