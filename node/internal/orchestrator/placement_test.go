package orchestrator

import (
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// Functions spread over nodes (fewest instances first), and
// node_id_match_any pins a function.
func TestPlacement_SpreadsAndPins(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a, b := newFakeAgent(t), newFakeAgent(t)
	o.register(t, a)
	o.register(t, b)
	req := threeFunctions()
	req.WorkflowFunctions = append(req.WorkflowFunctions, fn("extra", "extra", "container:extra:dev", nil, nil))
	st, err := o.StartWorkflow(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, in := range o.record(st.GetWorkflowId().GetWorkflowId()).funcs {
		perNode[in.nodeID]++
	}
	if perNode[a.nodeID] != 2 || perNode[b.nodeID] != 2 {
		t.Errorf("instances per node = %v, want 2 on each", perNode)
	}

	pinned := &edgelessapi.SpawnWorkflowRequest{WorkflowFunctions: []*edgelessapi.WorkflowFunction{
		fn("p1", "p", "container:p:dev", nil, map[string]string{"node_id_match_any": b.nodeID}),
		fn("p2", "p", "container:p:dev", nil, map[string]string{"node_id_match_any": "x," + b.nodeID}),
	}}
	st, err = o.StartWorkflow(t.Context(), pinned, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range o.record(st.GetWorkflowId().GetWorkflowId()).funcs {
		if in.nodeID != b.nodeID {
			t.Errorf("%s placed on %s, want the pinned node %s", in.name, in.nodeID, b.nodeID)
		}
	}
}
