package contract

import (
	"context"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// InstanceID identifies a function instance: the node that hosts it and the
// instance's own UUID, both in hyphenated text form. It is comparable, so it
// serves as a map key.
type InstanceID struct {
	NodeID     string
	FunctionID string
}

// Reply is the answer to a call.
type Reply struct {
	// Type says whether the callee replied, had nothing to reply, or failed.
	Type edgelessapi.CallRetType
	// Msg is the reply payload when Type is CALL_RET_REPLY.
	Msg []byte
}

// Host is what the node provides to one instance: delivery of its outgoing
// events, its state and its log. The node implements it (one value per
// instance); a runtime calls it when the instance sends an event, saves its
// state or writes a log line. Implementations must be safe for concurrent
// use and must honour ctx. Errors wrap this package's sentinels
// (ErrUnknownAlias, ErrInvalidPayload, ErrUnknownDestination,
// ErrOverloaded, ...) or the context's errors.
type Host interface {
	// Cast sends msg to the target mapped to alias ("self" is the instance).
	Cast(ctx context.Context, alias string, msg []byte) error
	// CastRaw sends msg to dst.
	CastRaw(ctx context.Context, dst InstanceID, msg []byte) error
	// Call sends msg to the target mapped to alias and waits for its reply.
	Call(ctx context.Context, alias string, msg []byte) (Reply, error)
	// CallRaw sends msg to dst and waits for its reply.
	CallRaw(ctx context.Context, dst InstanceID, msg []byte) (Reply, error)
	// Sync saves the instance's state.
	Sync(ctx context.Context, state []byte) error
	// TelemetryLog records a log line written by the instance.
	TelemetryLog(ctx context.Context, level edgelessapi.TelemetryLogLevel, target, msg string)
}

// AnnotationInitPayload is the function annotation whose value the node
// passes to Init as init_payload (StartSpec.InitPayload), whatever the
// runtime; upstream's name.
const AnnotationInitPayload = "init-payload"

// StartSpec is what Runtime.Start needs to create one instance. It is
// runtime-neutral: each runtime reads the fields it understands.
type StartSpec struct {
	// ID is the new instance's identifier, chosen by the node.
	ID InstanceID
	// ClassID is the function class name (FunctionClassSpecification.id).
	ClassID string
	// FunctionType is the class's function type (e.g. "CONTAINER"); the
	// node starts the instance on the runtime of that type.
	FunctionType string
	// Code is the class's code string (FunctionClassSpecification.code),
	// e.g. "container:<image>" for a container function.
	Code string
	// Binary is the class's code as bytes
	// (FunctionClassSpecification.binary), e.g. a WASM module; nil when the
	// class has none.
	Binary []byte
	// Annotations are the function's annotations (resource limits, ...).
	Annotations map[string]string
	// InitPayload goes to Init.init_payload.
	InitPayload string
	// State goes to Init.serialized_state.
	State []byte
	// Host serves the instance's requests to its node.
	Host Host
	// OnExit, if set, is called once when the instance ends for any reason
	// other than Stop (process exit, OOM kill, trap, ...).
	OnExit func(ExitInfo)
}

// ExitInfo says why an instance ended on its own.
type ExitInfo struct {
	ID       InstanceID
	Reason   string // e.g. "exited", "oom-killed", "killed"
	ExitCode int
	// LastLogs are the last lines the instance wrote.
	LastLogs []string
}

// Runtime runs the instances of one function type. Implementations must be
// safe for concurrent use.
type Runtime interface {
	// FunctionType is the function_type this runtime runs (e.g.
	// "CONTAINER"); the node announces it to the orchestrator.
	FunctionType() string
	// Start creates an instance from spec and returns once it has been
	// booted and initialized. On failure nothing is left behind.
	Start(ctx context.Context, spec StartSpec) (Instance, error)
	// Close stops every instance and releases the runtime's resources;
	// Start fails with ErrRuntimeClosed afterwards. It returns once every
	// instance is gone, or when ctx is done.
	Close(ctx context.Context) error
}

// Instance is one running function instance. Its methods are safe for
// concurrent use.
type Instance interface {
	// ID returns the instance's identifier.
	ID() InstanceID
	// Cast delivers a cast from src; it returns once the function has
	// accepted it.
	Cast(ctx context.Context, src InstanceID, msg []byte) error
	// Call delivers a call from src and returns the function's reply.
	Call(ctx context.Context, src InstanceID, msg []byte) (Reply, error)
	// Stop stops the instance and releases what it holds. It is idempotent:
	// later calls return the first call's result.
	Stop(ctx context.Context) error
	// Info describes the instance (state, start steps, ...).
	Info() Info
	// Logs returns the last output lines the instance wrote, oldest first.
	Logs() []LogLine
}

// State is where an instance is in its life.
type State string

// The states of an instance. An instance moves forward only:
// starting -> running -> stopping -> stopped, or to exited (it ended on its
// own) or failed (Start did not succeed).
const (
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
	StateExited   State = "exited"
	StateFailed   State = "failed"
)

// Info describes an instance for the node's logs, metrics and admin API.
// Fields a runtime has no use for stay zero.
type Info struct {
	ID      InstanceID
	ClassID string
	// Code is the code string the instance was started with.
	Code string
	// Image is the container image; empty where there is none.
	Image string
	// ContainerID and ContainerName name the instance's container; empty
	// where there is none.
	ContainerID   string
	ContainerName string
	// Endpoint is the URL of the instance's GuestAPIFunction server; empty
	// for runtimes that call the function in-process.
	Endpoint string
	State    State
	// StartedAt is when Start was called.
	StartedAt time.Time
	// ImageDuration is the time taken to find the function's code (the
	// image on the host, a module).
	ImageDuration time.Duration
	// CreateDuration is the time taken to create the instance's sandbox
	// (container, module instance) and start it.
	CreateDuration time.Duration
	// BootDuration is the time from the sandbox's start to a successful
	// Boot: the function's own start-up plus the Boot call.
	BootDuration time.Duration
	// InitDuration is the time the Init call took.
	InitDuration time.Duration
	// DroppedCasts counts casts to unmapped aliases that were dropped.
	DroppedCasts int64
	// PoolHit is set when the instance took a prewarmed sandbox (created
	// and started ahead): CreateDuration is then zero.
	PoolHit bool
	// Exit is set once the instance has ended on its own.
	Exit *ExitInfo
}

// LogLine is one line that an instance wrote.
type LogLine struct {
	Time time.Time
	// Stream is "stdout" or "stderr".
	Stream string
	Text   string
}
