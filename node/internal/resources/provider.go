package resources

import (
	"context"
	"errors"

	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Spec is a ResourceInstanceSpecification: what Start asks a provider for.
type Spec struct {
	// ClassType is the resource class ("http-ingress", "file-log", ...).
	ClassType string
	// Configuration is the workflow's "configurations" of the resource.
	Configuration map[string]string
	// WorkflowID is the workflow the instance belongs to.
	WorkflowID string
}

// Instance is one resource instance as its provider sees it.
type Instance struct {
	// ID is the instance's id on this node.
	ID contract.InstanceID
	// Spec is what the instance was started with.
	Spec Spec
	// Mailbox is the instance's place in the data plane: it casts and calls
	// by output alias through it. Its alias table is set by Patch.
	Mailbox *dataplane.Mailbox
}

// Provider is one resource provider of the node.
type Provider interface {
	// ClassType returns the class type the provider creates.
	ClassType() string
	// Outputs returns the output channels its instances may cast or call.
	Outputs() []string
	// Start creates in and returns the receiver of the events sent to it,
	// or an error wrapping ErrConfiguration when the configuration is not
	// acceptable.
	Start(ctx context.Context, in *Instance) (dataplane.Receiver, error)
	// Patched tells the provider that the instance's alias table changed;
	// an error refuses the patch (e.g. a required output is not mapped).
	Patched(in *Instance, outputs map[string]contract.InstanceID) error
	// Stop releases what Start created. It is called once per instance,
	// after the instance left the data plane.
	Stop(in *Instance)
}

// ErrConfiguration marks a Start refused because of the resource's
// configuration: the orchestrator gets it as a ResponseError.
var ErrConfiguration = errors.New("invalid resource configuration")

// ClassSpec describes a resource class as upstream's node prints it with
// --available-resources (its ResourceProviderSpecOutput).
type ClassSpec struct {
	ClassType      string            `json:"class_type"`
	Description    string            `json:"description"`
	Version        string            `json:"version"`
	Outputs        []string          `json:"outputs"`
	Configurations map[string]string `json:"configurations"`
}
