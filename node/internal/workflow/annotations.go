package workflow

import (
	"fmt"
	"slices"
	"strings"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/container"
)

// Placement annotations of a function, as upstream's ε-ORC reads them
// (deployment_requirements.rs). Lists are comma-separated.
const (
	// AnnotationNodeIDMatchAny: the instance runs on one of these node ids.
	AnnotationNodeIDMatchAny = "node_id_match_any"
	// AnnotationLabelMatchAll: the node announces every one of these labels.
	AnnotationLabelMatchAll = "label_match_all"
	// AnnotationResourceMatchAll: the node offers every one of these
	// resource providers.
	AnnotationResourceMatchAll = "resource_match_all"
	// AnnotationTEE: "required" places the instance on a node running a TEE.
	AnnotationTEE = "tee"
	// AnnotationTPM: "required" places the instance on a node with a TPM.
	AnnotationTPM = "tpm"
	// AnnotationMaxInstances is upstream's limit on instances of the
	// function in the domain; accepted and not enforced here (one instance
	// per function).
	AnnotationMaxInstances = "max_instances"
)

// KnownFunctionAnnotations lists every function annotation that the node or
// the orchestrator reads, in the order warnings name them.
var KnownFunctionAnnotations = []string{
	AnnotationInitPayload,
	AnnotationNodeIDMatchAny, AnnotationLabelMatchAll, AnnotationResourceMatchAll,
	AnnotationTEE, AnnotationTPM, AnnotationMaxInstances,
	container.AnnotationMemory, container.AnnotationCPUs, container.AnnotationPids, container.AnnotationPort,
}

// Warnings returns what is probably a mistake in a valid workflow but does
// not stop it from starting: function annotations that nothing reads (a
// typo such as "init_payload" leaves the function in its default mode).
// Each warning names where it is and lists the known annotations.
func Warnings(req *edgelessapi.SpawnWorkflowRequest) []string {
	var out []string
	for i, f := range req.GetWorkflowFunctions() {
		path := label(fmt.Sprintf("functions[%d]", i), f.GetName())
		keys := make([]string, 0, len(f.GetAnnotations()))
		for k := range f.GetAnnotations() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if slices.Contains(KnownFunctionAnnotations, k) {
				continue
			}
			hint := ""
			if s := closest(k); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			out = append(out, fmt.Sprintf("%s.annotations: unknown annotation %q is ignored%s (known: %s)",
				path, k, hint, strings.Join(KnownFunctionAnnotations, ", ")))
		}
	}
	return out
}

// closest returns the known annotation that k spells differently only in
// case, '-', '_' or '.', or "".
func closest(k string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "", ".", "").Replace(strings.ToLower(s))
	}
	for _, known := range KnownFunctionAnnotations {
		if norm(known) == norm(k) {
			return known
		}
	}
	return ""
}
