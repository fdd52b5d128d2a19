package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// SelfAlias is the reserved alias that names the sending instance itself.
const SelfAlias = "self"

// Receiver is a local instance (a contract.Instance satisfies it). The
// data plane calls Cast for each cast, in arrival order and one at a time,
// and Call concurrently (see the package comment); both must honour ctx.
type Receiver interface {
	Cast(ctx context.Context, src contract.InstanceID, msg []byte) error
	Call(ctx context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error)
}

// Mailbox is one registered instance: its incoming queues and workers, its
// alias table, and its way to send events (the event half of the
// contract.Host the node gives the instance; the agent adds state and
// telemetry).
type Mailbox struct {
	d   *Dataplane
	id  contract.InstanceID
	log *slog.Logger

	aliases    atomic.Pointer[map[string]contract.InstanceID]
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

	// dead rate-limits the warnings about events to an ended instance.
	dead deadWarner
	// bytes bounds the payload bytes waiting in the two queues.
	bytes *semaphore.Weighted
	// For castWait: castCost is the cautious cost of one cast from the
	// instance's service times, in nanoseconds (0 before the first
	// delivery; see serviceEstimate); castWaitPer is the wait per cast
	// ahead of it that the cast last taken from the queue saw (0 if none
	// was ahead); castStart is when the cast being delivered was taken
	// (monoNow; 0 while the worker is idle).
	castCost    atomic.Int64
	castWaitPer atomic.Int64
	castStart   atomic.Int64
	// gate holds the casts waiting for admission (MaxAdmissionWait).
	gate castGate
	// received counts the events (casts and calls) that entered the
	// instance's queues.
	received atomic.Uint64
}

// Received returns how many events (casts and calls) have entered the
// instance's queues since Register: what the instance received, whether
// or not it has handled them yet.
func (h *Mailbox) Received() uint64 { return h.received.Load() }

type receiverBox struct{ r Receiver }

func newMailbox(d *Dataplane, id contract.InstanceID) *Mailbox {
	ctx, cancel := context.WithCancel(context.Background())
	h := &Mailbox{
		d:        d,
		id:       id,
		log:      d.log.With("instance", id.FunctionID),
		attached: make(chan struct{}),
		casts:    make(chan delivery, d.cfg.QueueSize),
		calls:    make(chan delivery, d.cfg.QueueSize),
		slots:    make(chan struct{}, d.cfg.MaxConcurrentCalls),
		bytes:    semaphore.NewWeighted(d.cfg.QueueBytes),
		ctx:      ctx,
		cancel:   cancel,
	}
	h.gate.kick = make(chan struct{}, 1)
	h.aliases.Store(&map[string]contract.InstanceID{})
	h.nextStream.Store(randomStreamStart())
	h.wg.Add(2)
	go h.runCasts()
	go h.runCalls()
	return h
}

// ID returns the instance's id.
func (h *Mailbox) ID() contract.InstanceID { return h.id }

// Attach sets the receiver that gets the instance's events; events queued
// before it wait until then. A later Attach replaces the receiver; nil is
// ignored.
func (h *Mailbox) Attach(r Receiver) {
	if r == nil {
		return
	}
	h.recv.Store(&receiverBox{r: r})
	h.attachOnce.Do(func() { close(h.attached) })
}

// SetAliases replaces the whole alias table (PatchRequest.output_mapping).
// The alias "self" always names the instance and cannot be remapped.
func (h *Mailbox) SetAliases(m map[string]contract.InstanceID) {
	t := make(map[string]contract.InstanceID, len(m))
	for alias, id := range m {
		t[alias] = canonID(id)
	}
	h.aliases.Store(&t)
}

// Aliases returns a copy of the alias table.
func (h *Mailbox) Aliases() map[string]contract.InstanceID {
	return maps.Clone(*h.aliases.Load())
}

func (h *Mailbox) resolve(alias string) (contract.InstanceID, error) {
	if alias == SelfAlias {
		return h.id, nil
	}
	dst, ok := (*h.aliases.Load())[alias]
	if !ok {
		return contract.InstanceID{}, fmt.Errorf("alias %q of instance %s: %w", alias, h.id.FunctionID, contract.ErrUnknownAlias)
	}
	return dst, nil
}

// Cast sends msg to the instance mapped to alias.
func (h *Mailbox) Cast(ctx context.Context, alias string, msg []byte) error {
	dst, err := h.resolve(alias)
	if err != nil {
		return fmt.Errorf("cast: %w", err)
	}
	return h.d.cast(ctx, h.id, dst, msg, spanCastAlias)
}

// CastRaw sends msg to dst.
func (h *Mailbox) CastRaw(ctx context.Context, dst contract.InstanceID, msg []byte) error {
	return h.d.cast(ctx, h.id, dst, msg, spanCastRaw)
}

// Call sends msg to the instance mapped to alias and waits for its reply.
func (h *Mailbox) Call(ctx context.Context, alias string, msg []byte) (contract.Reply, error) {
	dst, err := h.resolve(alias)
	if err != nil {
		return contract.Reply{}, fmt.Errorf("call: %w", err)
	}
	return h.d.call(ctx, h.id, dst, msg)
}

// CallRaw sends msg to dst and waits for its reply.
func (h *Mailbox) CallRaw(ctx context.Context, dst contract.InstanceID, msg []byte) (contract.Reply, error) {
	return h.d.call(ctx, h.id, dst, msg)
}
