package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// ResourcePlacementError says why no node can host a resource.
type ResourcePlacementError struct {
	// Index is the resource's place in the workflow's "resources".
	Index     int
	Name      string
	ClassType string
	// Nodes says, for each registered node, why it does not fit.
	Nodes []string
}

// Error implements error.
func (e *ResourcePlacementError) Error() string {
	where := fmt.Sprintf("resources[%d] %q (class_type %q)", e.Index, e.Name, e.ClassType)
	if len(e.Nodes) == 0 {
		return where + ": no node is registered with the orchestrator"
	}
	return fmt.Sprintf("%s: no registered node offers a %q resource provider: %s", where, e.ClassType, strings.Join(e.Nodes, "; "))
}

// Unwrap makes errors.Is(err, ErrNoNode) true.
func (e *ResourcePlacementError) Unwrap() error { return ErrNoNode }

// placeResources chooses a node for every resource: among the ready nodes
// with a provider of its class type, the one hosting the fewest instances
// (ties: lowest id), counting the functions just placed.
func (o *Orchestrator) placeResources(rs []*edgelessapi.WorkflowResource, placed []*node) ([]*node, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	load := map[string]int{}
	for _, w := range o.workflows {
		for _, in := range w.funcs {
			load[in.nodeID]++
		}
	}
	for _, n := range placed {
		load[n.id]++
	}
	nodes := o.sortedNodesLocked()
	out := make([]*node, len(rs))
	for i, r := range rs {
		var best *node
		var reasons []string
		for _, n := range nodes {
			if why := unfitResource(n, r.GetClassType()); why != "" {
				reasons = append(reasons, fmt.Sprintf("node %s %s", n.id, why))
				continue
			}
			if best == nil || load[n.id] < load[best.id] {
				best = n
			}
		}
		if best == nil {
			return nil, &ResourcePlacementError{Index: i, Name: r.GetName(), ClassType: r.GetClassType(), Nodes: reasons}
		}
		load[best.id]++
		out[i] = best
	}
	return out, nil
}

// unfitResource says why n cannot host a resource of class, or "".
func unfitResource(n *node, class string) string {
	var offered []string
	found := false
	for _, p := range n.resources {
		offered = append(offered, fmt.Sprintf("%s (%s)", p.GetProviderId(), p.GetClassType()))
		found = found || p.GetClassType() == class
	}
	if !found {
		if len(offered) == 0 {
			return "offers no resource providers"
		}
		return fmt.Sprintf("offers resource providers [%s]", strings.Join(offered, ", "))
	}
	if n.status != nodeReady {
		return fmt.Sprintf("is not ready yet (%s)", n.status)
	}
	return ""
}

// startResource starts r on n. As startFunction, it returns the instance
// whenever one was created, even with an error.
func (o *Orchestrator) startResource(ctx context.Context, wfID string, r *edgelessapi.WorkflowResource, n *node) (*instance, error) {
	sctx, cancel := context.WithTimeout(ctx, o.cfg.StartTimeout)
	defer cancel()
	t0 := time.Now()
	resp, err := n.client.rc.Start(sctx, &edgelessapi.ResourceInstanceSpecification{
		ResourceClassType: r.GetClassType(),
		Configuration:     r.GetConfigurations(),
		WorkflowId:        wfID,
	})
	took := time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("ResourceConfiguration.Start: %w", err)
	}
	if re := resp.GetResponseError(); re != nil {
		return nil, &ResponseError{Summary: re.GetSummary(), Detail: re.GetDetail()}
	}
	id := resp.GetInstanceId().GetInstanceId()
	if id == nil || id.GetFunctionId() == "" {
		return nil, errors.New("ill-formed answer: neither an instance id nor an error")
	}
	in := &instance{
		name:          r.GetName(),
		resource:      true,
		classID:       r.GetClassType(),
		functionType:  adminapi.FunctionTypeResource,
		nodeID:        n.id,
		agentURL:      n.agentURL,
		incarnation:   n.incarnation,
		functionID:    id.GetFunctionId(),
		startedAt:     t0,
		startDuration: took,
	}
	if !sameUUID(id.GetNodeId(), n.id) {
		return in, fmt.Errorf("node answered with an instance on node %q", id.GetNodeId())
	}
	return in, nil
}

// mappings returns every output mapping of the workflow by component name:
// functions' and resources'.
func mappings(req *edgelessapi.SpawnWorkflowRequest) []struct {
	name string
	m    map[string]string
} {
	var out []struct {
		name string
		m    map[string]string
	}
	for _, f := range req.GetWorkflowFunctions() {
		out = append(out, struct {
			name string
			m    map[string]string
		}{f.GetName(), f.GetOutputMapping()})
	}
	for _, r := range req.GetWorkflowResources() {
		out = append(out, struct {
			name string
			m    map[string]string
		}{r.GetName(), r.GetOutputMapping()})
	}
	return out
}

// resourceNames lists a workflow's resources for logs.
func resourceNames(rs []*edgelessapi.WorkflowResource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetName())
	}
	return slices.Clip(out)
}
