package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/edgeless-go/edgeless/examples/internal/initpayload"
	"github.com/edgeless-go/edgeless/function-template/guest"
)

// tickMsg is the payload the ticker casts to itself.
const tickMsg = "tick"

// ticker is the guest.Function. Init sets host and period; Cast and Call
// may run concurrently and only read them.
type ticker struct {
	host   *guest.Host
	period time.Duration
	count  atomic.Int64
}

var _ guest.Function = (*ticker)(nil)

func (t *ticker) Init(ctx context.Context, host *guest.Host, payload string, _ []byte) error {
	opts, err := initpayload.Parse(payload, "period-ms")
	if err != nil {
		return err
	}
	t.period = time.Second
	if v, ok := opts["period-ms"]; ok {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 10 {
			return fmt.Errorf("init payload period-ms=%q: want an integer >= 10", v)
		}
		t.period = time.Duration(ms) * time.Millisecond
	}
	t.host = host
	slog.InfoContext(ctx, "ticker initialised", "period", t.period, "instance", host.ID())
	return t.schedule(ctx)
}

// schedule asks the node for the next tick.
func (t *ticker) schedule(ctx context.Context) error {
	return t.host.DelayedCast(ctx, "self", t.period, []byte(tickMsg))
}

// Cast handles a tick: it schedules the next one first, so that a failed
// cast downstream cannot stop the clock, then casts "tick N" to "output".
// Any other payload is cast on unchanged.
func (t *ticker) Cast(ctx context.Context, _ guest.InstanceID, msg []byte) error {
	if string(msg) != tickMsg {
		return t.host.Cast(ctx, "output", msg)
	}
	if err := t.schedule(ctx); err != nil {
		return fmt.Errorf("schedule next tick: %w", err)
	}
	n := t.count.Add(1)
	return t.host.Cast(ctx, "output", []byte(fmt.Sprintf("tick %d", n)))
}

// Call answers the number of ticks so far.
func (t *ticker) Call(context.Context, guest.InstanceID, []byte) (guest.Reply, error) {
	return guest.ReplyMsg([]byte(strconv.FormatInt(t.count.Load(), 10))), nil
}

// Stop has nothing to release: the node cancels pending delayed casts.
func (t *ticker) Stop(ctx context.Context) error {
	slog.InfoContext(ctx, "ticker stopped", "ticks", t.count.Load())
	return nil
}
