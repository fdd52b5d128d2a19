package container

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Instance is one function instance: the session with a function that the
// runtime booted and initialized (session.go: boot, init, cast, call,
// stop), running in a container that its containerHandle manages
// (handle.go: create, start, wait, output, remove) or, for grpc: code, in
// an already running server. Its methods are safe for concurrent use.
type Instance struct {
	rt     *Runtime
	id     contract.InstanceID
	spec   contract.StartSpec
	code   functionCode
	limits Limits
	port   uint16
	log    *slog.Logger
	logs   *outputRing
	// secret is sent in SecretHeader on every call into the function.
	secret string

	// conn is set once the function's endpoint is known; it is then
	// routable by the GuestAPIHost server.
	conn atomic.Pointer[connection]

	// alive is cancelled, with the reason as cause, when the instance
	// ends: pending calls, host requests and delayed casts then stop.
	alive context.Context
	kill  context.CancelCauseFunc
	// stopping is cancelled, with ErrInstanceStopped, when Stop begins:
	// forwarded casts and calls in flight then fail at once, whatever the
	// function answers while it stops (its host requests are still
	// served until the teardown).
	stopping  context.Context
	stopCalls context.CancelCauseFunc

	// ctr is the instance's container; nil for grpc: instances.
	ctr *containerHandle
	// poolSpec is the prewarm pool's key of the instance's container
	// (nil with the pool off); pooled is the pooled container it took, if
	// any (pool.go).
	poolSpec *poolSpec
	pooled   *pooled
	// ctrName is the pooled container's name until it is renamed after
	// the instance (under mu).
	ctrName string

	mu        sync.Mutex
	state     contract.State
	ending    bool // teardown has begun
	startedAt time.Time
	imageDur  time.Duration
	createDur time.Duration
	bootDur   time.Duration
	initDur   time.Duration
	exit      *contract.ExitInfo
	// stopRPCDur is how long the Stop RPC took (zero if none was sent);
	// stopAnswered is set if the function answered it without error.
	stopRPCDur   time.Duration
	stopAnswered bool

	// owned counts goroutines teardown waits for (delayed casts).
	owned sync.WaitGroup
	// delayedPending and delayedBytes count the delayed casts waiting and
	// their payload bytes (under mu).
	delayedPending int
	delayedBytes   int64

	teardownOnce sync.Once
	done         chan struct{}
	teardownErr  error
	stopOnce     sync.Once
	stopDone     chan struct{}
	stopErr      error

	dropped atomic.Int64
}

// newInstance validates spec and builds an instance in state starting.
func (r *Runtime) newInstance(spec contract.StartSpec) (*Instance, error) {
	n, err1 := uuid.Parse(spec.ID.NodeID)
	f, err2 := uuid.Parse(spec.ID.FunctionID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("start instance %s/%s: bad id: %w", spec.ID.NodeID, spec.ID.FunctionID, err)
	}
	spec.ID = contract.InstanceID{NodeID: n.String(), FunctionID: f.String()}
	if spec.ID.NodeID != r.cfg.NodeID {
		return nil, fmt.Errorf("start instance %s: node id %s is not this node's (%s)", spec.ID.FunctionID, spec.ID.NodeID, r.cfg.NodeID)
	}
	if spec.Host == nil {
		return nil, fmt.Errorf("start instance %s: no Host", spec.ID.FunctionID)
	}
	code, err := parseCode(spec.Code)
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.ID.FunctionID, err)
	}
	limits, err := LimitsFromAnnotations(r.cfg.Defaults, spec.Annotations)
	if err == nil {
		err = limits.exceeds(r.cfg.Maxima)
	}
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.ID.FunctionID, err)
	}
	port, err := portFromAnnotations(spec.Annotations)
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.ID.FunctionID, err)
	}
	if code.kind == kindContainer && r.docker == nil {
		return nil, fmt.Errorf("start instance %s: code %q needs Docker, and this runtime has none", spec.ID.FunctionID, spec.Code)
	}
	i := &Instance{
		rt:        r,
		id:        spec.ID,
		spec:      spec,
		code:      code,
		limits:    limits,
		port:      port,
		log:       r.log.With(slog.String("instance", spec.ID.FunctionID)),
		logs:      newOutputRing(r.cfg.LogLines),
		secret:    rand.Text(),
		done:      make(chan struct{}),
		stopDone:  make(chan struct{}),
		state:     contract.StateStarting,
		startedAt: time.Now(),
	}
	i.alive, i.kill = context.WithCancelCause(context.Background())
	i.stopping, i.stopCalls = context.WithCancelCause(i.alive)
	if code.kind == kindContainer {
		i.ctr = newContainerHandle(r.docker, i.containerName(), code.image, i.logs, limits.MemoryBytes > 0, i.log)
	}
	return i, nil
}

// ID returns the instance's identifier.
func (i *Instance) ID() contract.InstanceID { return i.id }

// Info returns a snapshot of the instance's description and state.
func (i *Instance) Info() contract.Info {
	i.mu.Lock()
	defer i.mu.Unlock()
	info := contract.Info{
		ID:             i.id,
		ClassID:        i.spec.ClassID,
		Code:           i.spec.Code,
		Image:          i.code.image,
		State:          i.state,
		StartedAt:      i.startedAt,
		ImageDuration:  i.imageDur,
		CreateDuration: i.createDur,
		BootDuration:   i.bootDur,
		InitDuration:   i.initDur,
		DroppedCasts:   i.dropped.Load(),
		PoolHit:        i.pooled != nil,
	}
	if i.ctr != nil {
		info.ContainerID = i.ctr.containerID()
		info.ContainerName = i.containerName()
		if i.ctrName != "" {
			info.ContainerName = i.ctrName
		}
	}
	if cn := i.conn.Load(); cn != nil {
		info.Endpoint = cn.endpoint
	}
	if i.exit != nil {
		e := *i.exit
		info.Exit = &e
	}
	return info
}

// Limits returns the resource limits applied to the instance's container.
func (i *Instance) Limits() Limits { return i.limits }

// Logs returns the most recent lines the instance's container wrote,
// oldest first.
func (i *Instance) Logs() []contract.LogLine { return i.logs.snapshot() }

// containerName is the Docker name of the instance's container.
func (i *Instance) containerName() string { return ContainerNamePrefix + i.id.FunctionID }
