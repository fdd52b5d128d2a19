package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/container"
)

// SelfAlias is the reserved alias that names the sending instance itself.
const SelfAlias = "self"

// Receiver is a local instance (a *container.Instance satisfies it). The
// data plane calls Cast for each cast, in arrival order and one at a time,
// and Call concurrently (see the package comment); both must honour ctx.
type Receiver interface {
	Cast(ctx context.Context, src container.InstanceID, msg []byte) error
	Call(ctx context.Context, src container.InstanceID, msg []byte) (container.Reply, error)
}

// HandleOptions are the per-instance services a Handle delegates to.
type HandleOptions struct {
	// Sync saves the instance's state; nil makes Sync a no-op.
	Sync func(ctx context.Context, state []byte) error
	// Log records a log line of the instance; nil writes it to the data
	// plane's logger with the instance id.
	Log func(level edgelessapi.TelemetryLogLevel, target, msg string)
}

// Handle is one registered instance: its incoming queue and worker, its
// alias table, and (as a container.InstanceHost) its way to send events.
type Handle struct {
	d    *Dataplane
	id   container.InstanceID
	opts HandleOptions
	log  *slog.Logger

	aliases    atomic.Pointer[map[string]container.InstanceID]
	recv       atomic.Pointer[receiverBox]
	attachOnce sync.Once
	attached   chan struct{} // closed by the first Attach

	// casts and calls are the instance's two bounded queues: casts are
	// delivered one at a time in order, calls concurrently (see doc.go).
	casts chan delivery
	calls chan delivery
	slots chan struct{} // one token per call being delivered

	// ctx ends when the instance is unregistered; it cancels deliveries.
	ctx    context.Context
	cancel context.CancelFunc
	// mu makes closed and the sends to the queues exclusive with close, so
	// that no event enters a queue after its final drain.
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup // the two workers and the call goroutines

	nextStream atomic.Uint64
}

var _ container.InstanceHost = (*Handle)(nil)

type receiverBox struct{ r Receiver }

func newHandle(d *Dataplane, id container.InstanceID, opts HandleOptions) *Handle {
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handle{
		d:        d,
		id:       id,
		opts:     opts,
		log:      d.log.With("instance", id.FunctionID),
		attached: make(chan struct{}),
		casts:    make(chan delivery, d.cfg.QueueSize),
		calls:    make(chan delivery, d.cfg.QueueSize),
		slots:    make(chan struct{}, d.cfg.MaxConcurrentCalls),
		ctx:      ctx,
		cancel:   cancel,
	}
	h.aliases.Store(&map[string]container.InstanceID{})
	h.wg.Add(2)
	go h.runCasts()
	go h.runCalls()
	return h
}

// ID returns the instance's id.
func (h *Handle) ID() container.InstanceID { return h.id }

// Attach sets the receiver that gets the instance's events; events queued
// before it wait until then. A later Attach replaces the receiver; nil is
// ignored.
func (h *Handle) Attach(r Receiver) {
	if r == nil {
		return
	}
	h.recv.Store(&receiverBox{r: r})
	h.attachOnce.Do(func() { close(h.attached) })
}

// SetAliases replaces the whole alias table (PatchRequest.output_mapping).
// The alias "self" always names the instance and cannot be remapped.
func (h *Handle) SetAliases(m map[string]container.InstanceID) {
	t := make(map[string]container.InstanceID, len(m))
	for alias, id := range m {
		t[alias] = canonID(id)
	}
	h.aliases.Store(&t)
}

// Aliases returns a copy of the alias table.
func (h *Handle) Aliases() map[string]container.InstanceID {
	return maps.Clone(*h.aliases.Load())
}

func (h *Handle) resolve(alias string) (container.InstanceID, error) {
	if alias == SelfAlias {
		return h.id, nil
	}
	dst, ok := (*h.aliases.Load())[alias]
	if !ok {
		return container.InstanceID{}, fmt.Errorf("alias %q of instance %s: %w", alias, h.id.FunctionID, container.ErrUnknownAlias)
	}
	return dst, nil
}

// Cast sends msg to the instance mapped to alias.
func (h *Handle) Cast(ctx context.Context, alias string, msg []byte) error {
	dst, err := h.resolve(alias)
	if err != nil {
		return fmt.Errorf("cast: %w", err)
	}
	return hostError(h.d.cast(ctx, h.id, dst, msg, spanCastAlias))
}

// CastRaw sends msg to dst.
func (h *Handle) CastRaw(ctx context.Context, dst container.InstanceID, msg []byte) error {
	return hostError(h.d.cast(ctx, h.id, dst, msg, spanCastRaw))
}

// Call sends msg to the instance mapped to alias and waits for its reply.
func (h *Handle) Call(ctx context.Context, alias string, msg []byte) (container.Reply, error) {
	dst, err := h.resolve(alias)
	if err != nil {
		return container.Reply{}, fmt.Errorf("call: %w", err)
	}
	r, err := h.d.call(ctx, h.id, dst, msg)
	return r, hostError(err)
}

// CallRaw sends msg to dst and waits for its reply.
func (h *Handle) CallRaw(ctx context.Context, dst container.InstanceID, msg []byte) (container.Reply, error) {
	r, err := h.d.call(ctx, h.id, dst, msg)
	return r, hostError(err)
}

// hostError is the edge towards the runtime, which cannot know this
// package's errors: it gives them their wire code (a connect error that
// still wraps the sentinel, for errors.Is). Errors that already carry a code
// (a peer's answer) keep it.
func hostError(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	switch {
	case errors.Is(err, ErrQueueFull):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, ErrUnknownInstance), errors.Is(err, ErrUnknownPeer), errors.Is(err, ErrUnregistered):
		return connect.NewError(connect.CodeNotFound, err)
	default:
		return err
	}
}

// Sync saves the instance's state through HandleOptions.Sync.
func (h *Handle) Sync(ctx context.Context, state []byte) error {
	if h.opts.Sync == nil {
		return nil
	}
	return h.opts.Sync(ctx, state)
}

// TelemetryLog records a log line through HandleOptions.Log.
func (h *Handle) TelemetryLog(_ context.Context, level edgelessapi.TelemetryLogLevel, target, msg string) {
	if h.opts.Log != nil {
		h.opts.Log(level, target, msg)
		return
	}
	h.log.Log(context.Background(), slogLevel(level), msg, "target", target, "source", "function")
}

func slogLevel(l edgelessapi.TelemetryLogLevel) slog.Level {
	switch l {
	case edgelessapi.TelemetryLogLevel_LOG_ERROR:
		return slog.LevelError
	case edgelessapi.TelemetryLogLevel_LOG_WARN:
		return slog.LevelWarn
	case edgelessapi.TelemetryLogLevel_LOG_INFO:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
