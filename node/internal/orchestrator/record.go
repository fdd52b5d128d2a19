package orchestrator

import (
	"sync"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// workflowRecord is a running workflow. id, req and created are immutable;
// funcs, health and stopped are guarded by Orchestrator.mu, and funcs is
// replaced (never changed in place) when an instance is replaced, so that a
// copy taken under the lock stays valid.
type workflowRecord struct {
	id      string
	req     *edgelessapi.SpawnWorkflowRequest
	created time.Time
	// funcs are the instances in start order.
	funcs []*instance
	// health is the self-healing state of each function, by name.
	health map[string]*fnHealth
	// stopped is set when Stop takes the record out of the table: a
	// replacement started afterwards must be stopped, not recorded.
	stopped bool
	// events are the workflow's lifecycle events.
	events *eventLog
	// healMu serialises the replacements of the workflow's instances with
	// each other and with Stop. Lock order: healMu, then Orchestrator.mu.
	healMu sync.Mutex
}

// funcs returns the current instances of rec.
func (o *Orchestrator) funcs(rec *workflowRecord) []*instance {
	o.mu.Lock()
	defer o.mu.Unlock()
	return rec.funcs
}

// resource returns the workflow's definition of the resource named name.
func (r *workflowRecord) resource(name string) *edgelessapi.WorkflowResource {
	for _, res := range r.req.GetWorkflowResources() {
		if res.GetName() == name {
			return res
		}
	}
	return nil
}

// function returns the workflow's definition of the function named name.
func (r *workflowRecord) function(name string) *edgelessapi.WorkflowFunction {
	for _, f := range r.req.GetWorkflowFunctions() {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// instance is one started function or resource instance.
type instance struct {
	name string
	// resource is set for a resource instance (classID is then its class
	// type): it is patched and stopped through ResourceConfiguration.
	resource     bool
	classID      string
	functionType string
	code         string
	nodeID       string
	agentURL     string
	// incarnation of the node when the instance started: if the node is
	// removed (or re-registers with a new nonce), the instance is gone.
	incarnation uint64
	functionID  string
	// stateID is the function's NodeLocal state id: the same for every
	// replacement, so that a restart on the same node gets the state of the
	// last Sync in Init.
	stateID   string
	startedAt time.Time
	// startDuration is how long FunctionInstance.Start took.
	startDuration time.Duration
	steps         adminapi.Steps
}

func (in *instance) id() *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: in.nodeID, FunctionId: in.functionID}
}

func (in *instance) kind() string {
	if in.resource {
		return "resource"
	}
	return "function"
}
