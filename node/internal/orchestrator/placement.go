package orchestrator

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/workflow"
)

// Placement annotations understood by upstream's ε-ORC
// (deployment_requirements.rs) that this orchestrator honours.
const (
	annotNodeIDMatchAny   = workflow.AnnotationNodeIDMatchAny
	annotLabelMatchAll    = workflow.AnnotationLabelMatchAll
	annotResourceMatchAll = workflow.AnnotationResourceMatchAll
	annotTEE              = workflow.AnnotationTEE
	annotTPM              = workflow.AnnotationTPM
)

// ErrNoNode is wrapped by placement errors.
var ErrNoNode = errors.New("no node can host the function")

// PlacementError says why no node can host a function.
type PlacementError struct {
	Function string
	Type     string
	// Nodes says, for each registered node, why it does not fit.
	Nodes []string
}

// Error implements error.
func (e *PlacementError) Error() string {
	if len(e.Nodes) == 0 {
		return fmt.Sprintf("function %q (%s): no node is registered with the orchestrator", e.Function, e.Type)
	}
	return fmt.Sprintf("function %q (%s): no registered node can host it: %s", e.Function, e.Type, strings.Join(e.Nodes, "; "))
}

// Unwrap makes errors.Is(err, ErrNoNode) true.
func (e *PlacementError) Unwrap() error { return ErrNoNode }

// place chooses a node for every function: among the ready nodes whose
// runtimes include the function's type and that meet its placement
// annotations, the one hosting the fewest instances (ties: lowest id).
func (o *Orchestrator) place(fns []*edgelessapi.WorkflowFunction) ([]*node, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	load := map[string]int{}
	for _, w := range o.workflows {
		for _, in := range w.funcs {
			load[in.nodeID]++
		}
	}
	nodes := o.sortedNodesLocked()
	out := make([]*node, len(fns))
	for i, f := range fns {
		var best *node
		var reasons []string
		for _, n := range nodes {
			if why := unfit(n, f); why != "" {
				reasons = append(reasons, fmt.Sprintf("node %s %s", n.id, why))
				continue
			}
			if best == nil || load[n.id] < load[best.id] {
				best = n
			}
		}
		if best == nil {
			return nil, &PlacementError{Function: f.GetName(), Type: f.GetClassSpec().GetFunctionType(), Nodes: reasons}
		}
		load[best.id]++
		out[i] = best
	}
	return out, nil
}

// unfit says why n cannot host f, or "" when it can.
func unfit(n *node, f *edgelessapi.WorkflowFunction) string {
	typ := f.GetClassSpec().GetFunctionType()
	runtimes := n.caps.GetRuntimes()
	if !slices.Contains(runtimes, typ) {
		return fmt.Sprintf("offers runtimes [%s]", strings.Join(runtimes, ", "))
	}
	if n.status != nodeReady {
		if n.lastErr != "" {
			return fmt.Sprintf("is not ready (%s: %s)", n.status, n.lastErr)
		}
		return fmt.Sprintf("is not ready yet (%s)", n.status)
	}
	if n.caps.GetNumCpus()*n.caps.GetNumCores() == 0 {
		// As upstream's is_node_feasible.
		return fmt.Sprintf("announces no CPUs (num_cpus %d x num_cores %d = 0)", n.caps.GetNumCpus(), n.caps.GetNumCores())
	}
	a := f.GetAnnotations()
	if v := a[annotNodeIDMatchAny]; v != "" && !slices.Contains(split(v), n.id) {
		return fmt.Sprintf("is not in %s=%s", annotNodeIDMatchAny, v)
	}
	if v := a[annotLabelMatchAll]; v != "" {
		for _, l := range split(v) {
			if !slices.Contains(n.caps.GetLabels(), l) {
				return fmt.Sprintf("lacks label %q (%s)", l, annotLabelMatchAll)
			}
		}
	}
	if v := a[annotResourceMatchAll]; v != "" {
		for _, p := range split(v) {
			if !slices.Contains(n.providers, p) {
				return fmt.Sprintf("lacks resource provider %q (%s)", p, annotResourceMatchAll)
			}
		}
	}
	if a[annotTEE] == "required" && !n.caps.GetIsTeeRunning() {
		return "runs no TEE (tee=required)"
	}
	if a[annotTPM] == "required" && !n.caps.GetHasTpm() {
		return "has no TPM (tpm=required)"
	}
	return ""
}

func split(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
