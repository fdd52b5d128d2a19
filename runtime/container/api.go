package container

import (
	"log/slog"
	"time"
)

// FunctionType is the function_type of container functions: the runtime
// name a node with this runtime announces.
const FunctionType = "CONTAINER"

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
	// StopGrace is the time between SIGTERM and SIGKILL (default 2s); at
	// most 250 ms once the function answered the Stop RPC (its clean-up is
	// done; upstream's node kills it at once).
	StopGrace time.Duration
	// MaxDelayedCasts bounds the delayed casts one instance may have
	// waiting, so that a function cannot make the node's memory grow
	// without bound; beyond it DelayedCast answers RESOURCE_EXHAUSTED
	// (default DefaultMaxDelayedCasts).
	MaxDelayedCasts int
	// MaxDelayedCastBytes bounds the payload bytes of the delayed casts
	// one instance may have waiting, likewise (default
	// DefaultMaxDelayedCastBytes).
	MaxDelayedCastBytes int64
	// MaxPayloadBytes bounds the messages that carry event payloads, read or
	// sent on the GuestAPIHost server and to functions; larger ones are
	// refused with RESOURCE_EXHAUSTED (default
	// transport.DefaultPayloadMaxBytes). Upstream has no limit.
	MaxPayloadBytes int
	// Defaults are the resource limits applied to every container unless an
	// annotation overrides them; a zero field takes DefaultLimits' value
	// (a container is never unlimited). Defaults.WritableRootFS gives every
	// container a writable root filesystem: by default it is read-only,
	// with a tmpfs /tmp of TmpfsBytes (the annotation AnnotationReadOnly =
	// "false" does the same for one function).
	Defaults Limits
	// Maxima are the largest limits an annotation may ask for; a start
	// asking for more is refused with ErrLimitExceeded naming the limit. A
	// zero field takes DefaultMaxima's value (its WritableRootFS is not
	// used).
	Maxima Limits
	// CapAdd lists the Linux capabilities (e.g. "NET_BIND_SERVICE") that
	// containers keep; every other one is dropped.
	CapAdd []string
	// TmpfsBytes is the size of the tmpfs /tmp of a read-only container
	// (default DefaultTmpfsBytes).
	TmpfsBytes int64
	// LogMaxBytes is the size at which a container's json-file log is
	// rotated, and LogMaxFiles how many files are kept (defaults
	// DefaultLogMaxBytes, DefaultLogMaxFiles).
	LogMaxBytes int64
	LogMaxFiles int
	// Logger receives the runtime's logs and the containers' output.
	Logger *slog.Logger

	// Network is the Docker network containers join (default
	// DefaultNetwork): created by New if missing, as EnsureNetwork says,
	// and shared with the other nodes of the host. GuestAPIHostURL should
	// be on its gateway (Network().Gateway).
	Network string

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
	// GuestSockets is GuestSocketsAuto (the default: "auto") or
	// GuestSocketsOff ("off"). With "auto", each container gets a
	// directory of Unix sockets of the node, bind-mounted read-only at
	// GuestSocketsMount, over which functions that can (the Go SDK) take
	// and send their events instead of the Docker bridge (guestsock.go);
	// unless the engine is not on a local unix:// socket or does not see
	// the node's files (its engine is in another mount namespace: the
	// node runs in a container or a service with its own mounts; or, when
	// that cannot be told, /.dockerenv or /run/.containerenv exists), or
	// the socket root cannot be made in the default place, where it is
	// off.
	GuestSockets string
	// GuestSocketDir is the directory in which the runtime makes its
	// socket root (a fresh directory, held with flock while the runtime
	// lives, removed by Close; roots left by a crash are removed by the
	// next New); default $RUNTIME_DIRECTORY if set, else os.TempDir().
	// The engine must see it at the same path: set, it makes "auto" trust
	// that it does (a node in a container: mount a host directory at the
	// same path in the node's container and set it here), and a failure
	// to make the root there fails New.
	GuestSocketDir string
	// Prewarm configures the prewarm pool of containers created and
	// started ahead of the Starts that take them (pool.go); off by
	// default.
	Prewarm Prewarm
}

// Limits are a container's resource limits.
type Limits struct {
	MemoryBytes int64
	NanoCPUs    int64
	PidsLimit   int64
	// WritableRootFS gives the container a writable root filesystem
	// instead of a read-only one with a tmpfs /tmp.
	WritableRootFS bool
}
