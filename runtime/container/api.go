package container

import (
	"context"
	"errors"
	"log/slog"
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

// Errors that an InstanceHost returns and the runtime maps to the guest API.
var (
	// ErrUnknownAlias: the alias has no mapping. A cast to it is dropped,
	// logged and counted; a call to it answers CALL_RET_ERR.
	ErrUnknownAlias = errors.New("unknown output alias")
	// ErrInvalidPayload: the payload cannot be carried to its destination
	// (e.g. a peer protocol needs UTF-8). The guest gets INVALID_ARGUMENT.
	ErrInvalidPayload = errors.New("invalid payload")
)

// InstanceHost is what the node provides to one instance: delivery of its
// outgoing events through the data plane, its state and its log. The node
// implements it (one value per instance); the runtime calls it when the
// instance's container calls GuestAPIHost. Implementations must be safe for
// concurrent use and must honour ctx.
type InstanceHost interface {
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

// StartSpec is what Runtime.Start needs to create one instance.
type StartSpec struct {
	// ID is the new instance's identifier, chosen by the node.
	ID InstanceID
	// ClassID is the function class name (a container label).
	ClassID string
	// Code is "container:<image>" or "grpc:<url>".
	Code string
	// Annotations are the function's annotations; the runtime reads its
	// resource-limit annotations from them.
	Annotations map[string]string
	// InitPayload goes to Init.init_payload.
	InitPayload string
	// State goes to Init.serialized_state.
	State []byte
	// Host serves the instance's GuestAPIHost requests.
	Host InstanceHost
	// OnExit, if set, is called once when the instance ends for any reason
	// other than Stop (container exit, OOM kill, ...).
	OnExit func(ExitInfo)
}

// ExitInfo says why an instance ended on its own.
type ExitInfo struct {
	ID       InstanceID
	Reason   string // e.g. "exited", "oom-killed", "killed"
	ExitCode int
	// LastLogs are the last lines the container wrote.
	LastLogs []string
}

// Config configures a Runtime.
type Config struct {
	// NodeID is the hosting node's UUID; containers are labelled with it.
	NodeID string
	// GuestAPIHostURL is sent to containers in Boot, e.g.
	// "http://172.17.0.1:7100".
	GuestAPIHostURL string
	// BootTimeout bounds start to booted (default 30s).
	BootTimeout time.Duration
	// InitTimeout bounds the Init call (default 30s).
	InitTimeout time.Duration
	// CallTimeout bounds each Cast and Call forwarded to an instance
	// (default 60s).
	CallTimeout time.Duration
	// StopTimeout bounds the Stop RPC (default 2s).
	StopTimeout time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL (default 2s).
	StopGrace time.Duration
	// MaxDelayedCasts bounds the delayed casts one instance may have
	// waiting, so that a function cannot make the node's memory grow
	// without bound; beyond it DelayedCast answers RESOURCE_EXHAUSTED
	// (default DefaultMaxDelayedCasts).
	MaxDelayedCasts int
	// Defaults are the resource limits applied to every container unless an
	// annotation overrides them; zero means unlimited.
	Defaults Limits
	// Logger receives the runtime's logs and the containers' output.
	Logger *slog.Logger

	// DockerHost is the Engine API address (e.g. "unix:///var/run/docker.sock");
	// empty means DOCKER_HOST or the default socket.
	DockerHost string
	// NoDocker makes a runtime without Docker: only grpc: instances can
	// start, and New does not reconcile.
	NoDocker bool
	// PublishPort makes the runtime reach a container through its function
	// port published on 127.0.0.1 (as upstream does, but never on 0.0.0.0)
	// instead of dialling the container's bridge address directly (the
	// default; see the benchmark in doc.go for why).
	PublishPort bool
	// LogLines is how many output lines each instance keeps (default 500).
	LogLines int
}

// Limits are a container's resource limits; zero means unlimited.
type Limits struct {
	MemoryBytes int64
	NanoCPUs    int64
	PidsLimit   int64
}
