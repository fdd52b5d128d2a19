package dataplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// delivery is one event waiting in an instance's queue.
type delivery struct {
	typ      edgelessapi.EventType // CAST or CALL
	src      contract.InstanceID
	stream   uint64
	msg      []byte
	deadline time.Time // calls only: when the caller stops waiting
	meta     *edgelessapi.EventSerializedMetadata
	size     int64 // what it holds of the instance's queue bytes
}

// eventOverhead is what one queued event counts beyond its payload.
const eventOverhead = 256

// queueFor returns the queue of an event of type typ.
func (h *Mailbox) queueFor(typ edgelessapi.EventType) chan delivery {
	if typ == edgelessapi.EventType_CAST {
		return h.casts
	}
	return h.calls
}

// enqueue puts it in its queue, waiting for space (events and bytes) until
// ctx is done or SendTimeout passes.
func (h *Mailbox) enqueue(ctx context.Context, it delivery) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return fmt.Errorf("instance %s: %w", h.id.FunctionID, ErrUnregistered)
	}
	it.size = int64(len(it.msg)) + eventOverhead
	if max := h.d.cfg.QueueBytes; it.size > max {
		return fmt.Errorf("instance %s: an event of %d bytes exceeds its queue of %d bytes: %w", h.id.FunctionID, it.size, max, ErrQueueFull)
	}
	if it.typ == edgelessapi.EventType_CAST {
		if err := h.admitCast(); err != nil {
			return err
		}
	}
	q := h.queueFor(it.typ)
	if h.bytes.TryAcquire(it.size) {
		select {
		case q <- it:
			h.received.Add(1)
			return nil
		default:
		}
	} else {
		it.size = -it.size // not yet acquired
	}
	h.d.stats.queueFull.Add(1)
	wctx, cancel := context.WithTimeout(ctx, h.d.cfg.SendTimeout)
	defer cancel()
	stop := context.AfterFunc(h.ctx, cancel)
	defer stop()
	if it.size < 0 {
		it.size = -it.size
		if err := h.bytes.Acquire(wctx, it.size); err != nil {
			return h.fullError(ctx, q, fmt.Sprintf("%d bytes waiting", h.d.cfg.QueueBytes))
		}
	}
	select {
	case q <- it:
		h.received.Add(1)
		return nil
	case <-wctx.Done():
		h.bytes.Release(it.size)
		return h.fullError(ctx, q, fmt.Sprintf("%d events waiting", cap(q)))
	}
}

// fullError explains why an event found no room: the instance went away,
// the sender's ctx ended, or SendTimeout passed.
func (h *Mailbox) fullError(ctx context.Context, q chan delivery, what string) error {
	switch {
	case h.ctx.Err() != nil:
		return fmt.Errorf("instance %s: %w", h.id.FunctionID, ErrUnregistered)
	case ctx.Err() != nil:
		return fmt.Errorf("instance %s: %s: %w (%w)", h.id.FunctionID, what, ErrQueueFull, ctx.Err())
	default:
		return fmt.Errorf("instance %s: %s for %s: %w", h.id.FunctionID, what, h.d.cfg.SendTimeout, ErrQueueFull)
	}
}

// dequeued returns the queue bytes an event held.
func (h *Mailbox) dequeued(it delivery) { h.bytes.Release(it.size) }

// castCostWeight is the weight of the newest delivery time in the moving
// average of an instance's cast delivery times (1/castCostWeight).
const castCostWeight = 8

// admitCast refuses a cast when the casts already queued for the instance
// would take longer than MaxQueueDelay to deliver.
func (h *Mailbox) admitCast() error {
	limit := h.d.cfg.MaxQueueDelay
	if limit <= 0 {
		return nil
	}
	n := len(h.casts)
	wait := time.Duration(int64(n) * h.castCost.Load())
	if wait <= limit {
		return nil
	}
	h.d.stats.castsShed.Add(1)
	return fmt.Errorf("instance %s: %d casts queued, about %s of work, more than the %s allowed: %w",
		h.id.FunctionID, n, wait.Round(time.Millisecond), limit, ErrQueueFull)
}

// recordCastCost adds one delivery time to the instance's moving average
// (only runCasts calls it, so load and store need no lock).
func (h *Mailbox) recordCastCost(d time.Duration) {
	old := h.castCost.Load()
	if old == 0 {
		h.castCost.Store(int64(d))
		return
	}
	h.castCost.Store(old + (int64(d)-old)/castCostWeight)
}

// waitAttached waits for Attach; it reports false if the instance was
// unregistered first.
func (h *Mailbox) waitAttached() bool {
	select {
	case <-h.attached:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// runCasts delivers the instance's casts one at a time, in arrival order,
// until the instance is unregistered.
func (h *Mailbox) runCasts() {
	defer h.wg.Done()
	if !h.waitAttached() {
		return
	}
	for {
		select {
		case <-h.ctx.Done():
			return
		case it := <-h.casts:
			h.dequeued(it)
			if h.ctx.Err() != nil { // select chose the queue over Done
				h.fail(it)
				return
			}
			h.deliverCast(it)
		}
	}
}

// runCalls starts the instance's calls in arrival order, each on its own
// goroutine, at most MaxConcurrentCalls at once, until the instance is
// unregistered. A call waits neither for casts nor for earlier calls to
// finish, so a handler that calls back into its own instance (directly or
// through others) is served.
func (h *Mailbox) runCalls() {
	defer h.wg.Done()
	if !h.waitAttached() {
		return
	}
	for {
		select {
		case <-h.ctx.Done():
			return
		case it := <-h.calls:
			h.dequeued(it)
			if h.ctx.Err() != nil {
				h.fail(it)
				return
			}
			select {
			case h.slots <- struct{}{}:
			case <-h.ctx.Done():
				h.fail(it)
				return
			}
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				defer func() { <-h.slots }()
				h.deliverCall(it)
			}()
		}
	}
}

func (h *Mailbox) receiver() Receiver { return h.recv.Load().r }

func (h *Mailbox) deliverCast(it delivery) {
	ctx, cancel := context.WithTimeout(h.ctx, h.d.cfg.CallTimeout)
	defer cancel()
	t0 := time.Now()
	err := h.receiver().Cast(ctx, it.src, it.msg)
	cost := time.Since(t0)
	defer h.recordCastCost(cost) // after the counters, which tests read
	if err != nil {
		h.d.stats.castsFailed.Add(1)
		if errors.Is(err, contract.ErrInstanceStopped) {
			// Expected while an instance is being stopped (e.g. a delayed
			// cast to itself firing during its Stop).
			h.log.Info("cast dropped: the instance is stopping", "src", it.src.FunctionID, "src_node", it.src.NodeID)
			return
		}
		if errors.Is(err, contract.ErrInstanceNotRunning) {
			// The instance has ended: until the orchestrator replaces it,
			// every event fails the same way; one line says so with a count.
			h.d.stats.castsDropped.Add(1)
			h.warnDead("cast", err)
			return
		}
		h.log.Warn("deliver cast", "src", it.src.FunctionID, "src_node", it.src.NodeID, "err", err)
		return
	}
	h.d.stats.castsDelivered.Add(1)
}

func (h *Mailbox) deliverCall(it delivery) {
	res := callResult{reply: contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}}
	if time.Now().Before(it.deadline) {
		ctx, cancel := context.WithDeadline(h.ctx, it.deadline)
		r, err := h.receiver().Call(ctx, it.src, it.msg)
		expired := ctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			h.d.stats.callsDelivered.Add(1)
			res.reply = r
		case expired:
			// The caller's deadline passed (or the instance went away): a
			// local caller learns that rather than a plain ERR.
			h.d.stats.callsFailed.Add(1)
			res.err = fmt.Errorf("instance %s did not answer: %w", h.id.FunctionID, err)
		case errors.Is(err, contract.ErrInstanceNotRunning):
			// A local caller learns that the instance is dead and why; a
			// remote one gets ERR.
			h.d.stats.callsFailed.Add(1)
			res.err = err
			h.warnDead("call", err)
		default:
			h.d.stats.callsFailed.Add(1)
			h.log.Warn("deliver call", "src", it.src.FunctionID, "src_node", it.src.NodeID, "stream", it.stream, "err", err)
		}
	} else {
		h.d.stats.callsFailed.Add(1)
		res.err = fmt.Errorf("call expired in the queue of instance %s: %w", h.id.FunctionID, context.DeadlineExceeded)
	}
	h.d.sendReply(h.id, it.src, it.stream, res, it.meta)
}

// fail disposes of an event that will not be delivered: a cast is dropped,
// a call is answered ERR.
func (h *Mailbox) fail(it delivery) {
	if it.typ == edgelessapi.EventType_CAST {
		h.d.stats.castsDropped.Add(1)
		h.log.Warn("drop cast: instance unregistered", "src", it.src.FunctionID, "src_node", it.src.NodeID)
		return
	}
	h.d.stats.callsFailed.Add(1)
	h.d.sendReply(h.id, it.src, it.stream, callResult{err: fmt.Errorf("instance %s: %w", h.id.FunctionID, ErrUnregistered)}, it.meta)
}

// close cancels the deliveries in progress, waits for the worker and the
// call goroutines, and disposes of what is left in the queue.
func (h *Mailbox) close() {
	h.cancel()
	h.mu.Lock() // waits for enqueuers, which return at once after cancel
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
	// The ERR replies of the calls left in the queue go out in parallel:
	// each may wait up to SendTimeout for a remote caller's node, so one
	// after the other a full queue could hold Unregister for very long.
	var replies sync.WaitGroup
	for _, q := range []chan delivery{h.casts, h.calls} {
		for drained := false; !drained; {
			select {
			case it := <-q:
				h.dequeued(it)
				replies.Go(func() { h.fail(it) })
			default:
				drained = true
			}
		}
	}
	replies.Wait()
}
