package container

import "github.com/edgeless-go/edgeless/runtime/contract"

// InstanceState is contract.State: where an instance is in its life.
type InstanceState = contract.State

// The states of an instance (contract.State*). An instance moves forward
// only: starting -> running -> stopping -> stopped, or to exited (its
// container ended on its own) or failed (Start did not succeed).
const (
	StateStarting = contract.StateStarting
	StateRunning  = contract.StateRunning
	StateStopping = contract.StateStopping
	StateStopped  = contract.StateStopped
	StateExited   = contract.StateExited
	StateFailed   = contract.StateFailed
)

// InstanceInfo is contract.Info: an instance's description for the node's
// admin API. Image, ContainerID and ContainerName are empty for grpc:
// instances.
type InstanceInfo = contract.Info

// LogLine is contract.LogLine: one line that an instance's container wrote.
type LogLine = contract.LogLine
