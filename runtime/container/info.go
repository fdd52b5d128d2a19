package container

import (
	"time"
)

// InstanceState is where an instance is in its life.
type InstanceState string

// The states of an instance. An instance moves forward only:
// starting -> running -> stopping -> stopped, or to exited (its container
// ended on its own) or failed (Start did not succeed).
const (
	StateStarting InstanceState = "starting"
	StateRunning  InstanceState = "running"
	StateStopping InstanceState = "stopping"
	StateStopped  InstanceState = "stopped"
	StateExited   InstanceState = "exited"
	StateFailed   InstanceState = "failed"
)

// InstanceInfo describes an instance for the node's admin API.
type InstanceInfo struct {
	ID      InstanceID
	ClassID string
	// Code is the code string the instance was started with.
	Code string
	// Image is the container image; empty for grpc: instances.
	Image string
	// ContainerID and ContainerName are empty for grpc: instances.
	ContainerID   string
	ContainerName string
	// Endpoint is the URL of the instance's GuestAPIFunction server.
	Endpoint string
	State    InstanceState
	// StartedAt is when Start was called.
	StartedAt time.Time
	// ImageDuration is the time taken to check that the image is local.
	ImageDuration time.Duration
	// CreateDuration is the time taken to create and start the container
	// and read its address.
	CreateDuration time.Duration
	// BootDuration is the time from the container's start (a grpc:
	// instance's Start) to a successful Boot: the function's own start-up
	// plus the Boot call.
	BootDuration time.Duration
	// InitDuration is the time the Init call took.
	InitDuration time.Duration
	// Limits are the resource limits applied to the container.
	Limits Limits
	// DroppedCasts counts casts to unmapped aliases that were dropped.
	DroppedCasts int64
	// Exit is set once the instance has ended on its own.
	Exit *ExitInfo
}

// LogLine is one line that an instance's container wrote.
type LogLine struct {
	Time time.Time
	// Stream is "stdout" or "stderr".
	Stream string
	Text   string
}
