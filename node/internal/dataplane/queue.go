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
	// casts only, for MaxQueueDelay: when it entered the queue (monoNow),
	// and how many casts were ahead of it then (queued or being delivered).
	queued int64
	ahead  int
}

// epoch is the origin of monoNow.
var epoch = time.Now()

// monoNow returns the time since epoch on the monotonic clock, in
// nanoseconds (never 0 after the first moments of the process).
func monoNow() int64 { return int64(time.Since(epoch)) + 1 }

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
	reserved := false // it.size queue bytes are held for it
	if it.typ == edgelessapi.EventType_CAST {
		w, err := h.admit(ctx, &it)
		if err != nil {
			return err
		}
		if w != nil { // it waited at the gate: it leaves once queued
			defer h.gate.leave(w)
			reserved = true
		}
	}
	q := h.queueFor(it.typ)
	if reserved || h.bytes.TryAcquire(it.size) {
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

// castWait estimates whether a cast arriving at now would wait in the
// queue longer than MaxQueueDelay: the casts ahead of it (queued, and the
// one being delivered) at the instance's current cost per cast. That cost
// is the larger of two measurements: a cautious estimate from the worker's
// service times (serviceEstimate), and the wait per cast ahead of it that
// the last cast taken from the queue actually saw, which follows a sudden
// slowdown of the instance (or of the host) at once. The cast being
// delivered counts as the larger of that cost and the time it has taken so
// far: a delivery that stalls is expected to go on for about as long again
// (delivery times have a long tail), and whatever is queued behind it
// waits for all of it. A cast that finds the instance idle is always
// admitted. It returns the number of casts ahead, the work they make, and
// whether that is within MaxQueueDelay.
func (h *Mailbox) castWait(now int64) (int, time.Duration, bool) {
	ahead := len(h.casts)
	start := h.castStart.Load()
	if start != 0 {
		ahead++
	}
	limit := h.d.cfg.MaxQueueDelay
	if limit <= 0 || ahead == 0 {
		return ahead, 0, true
	}
	cost := max(h.castCost.Load(), h.castWaitPer.Load())
	wait := time.Duration(int64(ahead) * cost)
	if start != 0 {
		wait += time.Duration(max(now-start-cost, 0))
	}
	return ahead, wait, wait <= limit
}

// shed counts a cast refused (CastsShed) and returns err.
func (h *Mailbox) shed(err error) error {
	h.d.stats.castsShed.Add(1)
	return err
}

// tooLong is the error of a cast refused because ahead casts, about wait
// of work, were ahead of it, after it waited held for admission.
func (h *Mailbox) tooLong(ahead int, wait, held time.Duration) error {
	after := ""
	if held > 0 {
		after = fmt.Sprintf(" after %s waiting for admission", held)
	}
	return fmt.Errorf("instance %s: %d casts queued or in delivery, about %s of work, more than the %s allowed%s: %w",
		h.id.FunctionID, ahead, wait.Round(time.Millisecond), h.d.cfg.MaxQueueDelay, after, ErrQueueFull)
}

// serviceEstimate follows an instance's cast service times the way TCP
// follows round-trip times (RFC 6298): a moving average (weight 1/8) and
// the moving mean deviation from it (weight 1/4). The cost per cast it
// gives is the average plus twice the deviation: on a host whose delivery
// times swing, a queue sized with the plain average often holds more than
// its time. Only the cast worker uses it.
type serviceEstimate struct{ mean, dev int64 }

// add records one service time and returns the new cost per cast.
func (e *serviceEstimate) add(d int64) int64 {
	if e.mean == 0 {
		e.mean, e.dev = d, d/2
	} else {
		diff := d - e.mean
		e.mean += diff / 8
		e.dev += (abs(diff) - e.dev) / 4
	}
	return e.mean + 2*e.dev
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// tookCast records, for castWait, the wait of the cast it, taken from the
// queue at now: its wait per cast that was ahead of it (0 if none was: the
// instance was idle).
func (h *Mailbox) tookCast(it delivery, now int64) {
	var per int64
	if it.ahead > 0 {
		per = (now - it.queued) / int64(it.ahead)
	}
	h.castWaitPer.Store(per)
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
	// The service time of a cast is the worker's time for it: from when
	// the worker could take it (it arrived, and the cast before it was
	// done) until it was delivered. It includes the hand-off to the
	// worker, which on a loaded host is not negligible.
	var (
		prevEnd int64
		est     serviceEstimate
	)
	for {
		select {
		case <-h.ctx.Done():
			return
		case it := <-h.casts:
			start := monoNow()
			h.castStart.Store(start)
			h.tookCast(it, start)
			h.progress(start)
			if obs := h.d.cfg.ObserveCastWait; obs != nil {
				obs(time.Duration(start - it.queued))
			}
			h.dequeued(it)
			if h.ctx.Err() != nil { // select chose the queue over Done
				h.fail(it)
				return
			}
			h.deliverCast(it)
			end := monoNow()
			h.castCost.Store(est.add(end - max(prevEnd, it.queued)))
			prevEnd = end
			h.castStart.Store(0)
			h.progress(end)
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
	err := h.receiver().Cast(ctx, it.src, it.msg)
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
