package dataplane

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// castGate holds the casts that wait for admission to one instance's cast
// queue (Config.MaxAdmissionWait), first come first served. Only the
// waiter at the head checks the estimate; the others wait for their turn,
// so that a cast never overtakes one that waits before it. It is the
// instance's own: there is no lock across instances.
type castGate struct {
	mu      sync.Mutex
	waiters []*castWaiter // in arrival order; waiters[0] is the head
	// n is len(waiters), for the lock-free fast path: a cast that finds
	// nobody waiting is checked against the estimate at once.
	n atomic.Int32
	// kick wakes the head: the cast worker took a cast from the queue or
	// finished one, which is when the estimate can admit more.
	kick chan struct{}
}

// castWaiter is one cast waiting at the gate.
type castWaiter struct {
	turn chan struct{} // closed when it becomes the head
}

// join appends a waiter unless max already wait; the first one is the
// head at once.
func (g *castGate) join(max int) (*castWaiter, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiters) >= max {
		return nil, false
	}
	w := &castWaiter{turn: make(chan struct{})}
	if len(g.waiters) == 0 {
		close(w.turn)
	}
	g.waiters = append(g.waiters, w)
	g.n.Store(int32(len(g.waiters)))
	return w, true
}

// leave removes w, wherever it is; when w was the head, the next waiter
// becomes the head. An admitted waiter leaves only once its cast is in
// the queue, so that no later cast can get there before it.
func (g *castGate) leave(w *castWaiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.waiters, w)
	if i < 0 {
		return
	}
	g.waiters = slices.Delete(g.waiters, i, i+1)
	g.n.Store(int32(len(g.waiters)))
	if i == 0 && len(g.waiters) > 0 {
		close(g.waiters[0].turn)
	}
}

// progress wakes the head waiter when the estimate would admit a cast at
// now (called by the cast worker when it takes a cast and when it has
// delivered one; nearly free when nobody waits). Between two such calls
// the estimate only grows (castWait: the queue only gains casts, the cast
// in delivery counts at least as long as it has taken, and the costs
// change only here), so a head the estimate refuses now would only check
// and wait again: under a backlog that was a useless wake-up of the head
// for most casts delivered.
func (h *Mailbox) progress(now int64) {
	g := &h.gate
	if g.n.Load() == 0 {
		return
	}
	if _, _, ok := h.castWait(now); !ok {
		return
	}
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// admit decides whether the cast it may enter the instance's queue, by
// the estimate of castWait. A cast that finds casts waiting at the gate,
// or that the estimate refuses, waits at the gate (FIFO) when
// Config.MaxAdmissionWait allows, until the estimate admits it: then the
// returned waiter is not nil and has reserved the cast's queue bytes, and
// the caller must leave the gate once the cast is in the queue (or has
// failed to get there). It is refused (ErrQueueFull, counted in CastsShed)
// when the estimate still refuses it after MaxAdmissionWait, when
// MaxAdmissionWaiters casts already wait, or when the queue bytes are
// spent; it also returns early when ctx ends or the instance goes away.
// A cast of an instance to itself is never held (its sender may be the
// delivery it would wait for): the estimate alone decides.
func (h *Mailbox) admit(ctx context.Context, it *delivery) (*castWaiter, error) {
	g := &h.gate
	hold := h.d.cfg.MaxAdmissionWait
	self := it.src == h.id
	if g.n.Load() == 0 || hold <= 0 || self {
		now := monoNow()
		ahead, wait, ok := h.castWait(now)
		if ok {
			it.ahead, it.queued = ahead, now
			return nil, nil
		}
		if hold <= 0 || self {
			return nil, h.shed(h.tooLong(ahead, wait, 0))
		}
	}
	if !h.bytes.TryAcquire(it.size) {
		return nil, h.shed(fmt.Errorf("instance %s: no queue bytes left to wait for admission with: %w", h.id.FunctionID, ErrQueueFull))
	}
	w, ok := g.join(h.d.cfg.MaxAdmissionWaiters)
	if !ok {
		h.bytes.Release(it.size)
		return nil, h.shed(fmt.Errorf("instance %s: %d casts already wait for admission: %w", h.id.FunctionID, h.d.cfg.MaxAdmissionWaiters, ErrQueueFull))
	}
	h.d.stats.castsHeld.Add(1)
	start := monoNow()
	timer := time.NewTimer(hold)
	defer timer.Stop()
	// Until its turn, a waiter waits for it; the head, for the worker.
	turn, kick := w.turn, (<-chan struct{})(nil)
	for {
		if turn == nil {
			now := monoNow()
			ahead, _, ok := h.castWait(now)
			if ok {
				it.ahead, it.queued = ahead, now
				h.observeAdmission(now-start, true)
				return w, nil
			}
		}
		select {
		case <-turn:
			turn, kick = nil, g.kick
		case <-kick:
		case <-timer.C:
			ahead, wait, _ := h.castWait(monoNow())
			return nil, h.notAdmitted(w, it.size, start, h.shed(h.tooLong(ahead, wait, hold)))
		case <-ctx.Done():
			return nil, h.notAdmitted(w, it.size, start, fmt.Errorf("instance %s: waiting for admission: %w (%w)", h.id.FunctionID, ErrQueueFull, ctx.Err()))
		case <-h.ctx.Done():
			return nil, h.notAdmitted(w, it.size, start, fmt.Errorf("instance %s: %w", h.id.FunctionID, ErrUnregistered))
		}
	}
}

// notAdmitted takes w, which was not admitted, off the gate, returns the
// size bytes it reserved and records its wait; it returns err.
func (h *Mailbox) notAdmitted(w *castWaiter, size, start int64, err error) error {
	h.gate.leave(w)
	h.bytes.Release(size)
	h.observeAdmission(monoNow()-start, false)
	return err
}

func (h *Mailbox) observeAdmission(d int64, admitted bool) {
	if obs := h.d.cfg.ObserveAdmissionWait; obs != nil {
		obs(time.Duration(d), admitted)
	}
}
