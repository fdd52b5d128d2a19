package orchestrator

import (
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// workflowRecord is a running workflow. Immutable once stored, except that
// Stop replaces it with one holding the instances it could not stop.
type workflowRecord struct {
	id      string
	req     *edgelessapi.SpawnWorkflowRequest
	created time.Time
	// funcs are the instances in start order.
	funcs []*instance
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
	startedAt   time.Time
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
