package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// ErrTooManyDelayedCasts: the instance has Config.MaxDelayedCasts waiting.
var ErrTooManyDelayedCasts = errors.New("too many delayed casts waiting")

// scheduleDelayedCast casts msg to alias after delayMs milliseconds unless
// the instance ends first. The cast keeps the values (e.g. event metadata)
// of the event that scheduled it, not its deadline.
func (i *Instance) scheduleDelayedCast(ctx context.Context, alias string, msg []byte, delayMs uint64) error {
	i.mu.Lock()
	if i.state != contract.StateRunning && i.state != contract.StateStarting {
		i.mu.Unlock()
		return fmt.Errorf("instance %s is ending", i.id.FunctionID)
	}
	if limit := i.rt.cfg.MaxDelayedCasts; i.delayedPending >= limit {
		i.mu.Unlock()
		return fmt.Errorf("instance %s has %d waiting: %w", i.id.FunctionID, limit, ErrTooManyDelayedCasts)
	}
	i.delayedPending++
	i.owned.Add(1)
	i.mu.Unlock()
	d := time.Duration(math.MaxInt64)
	if delayMs < uint64(math.MaxInt64/int64(time.Millisecond)) {
		d = time.Duration(delayMs) * time.Millisecond
	}
	base := context.WithoutCancel(ctx)
	go func() {
		defer i.owned.Done()
		defer func() {
			i.mu.Lock()
			i.delayedPending--
			i.mu.Unlock()
		}()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-i.alive.Done():
			i.log.Debug("delayed cast dropped: instance ended", slog.String("alias", alias))
			return
		}
		cctx, cancel := context.WithTimeout(base, i.rt.cfg.CallTimeout)
		defer cancel()
		stop := context.AfterFunc(i.alive, cancel)
		defer stop()
		i.sendCast(cctx, alias, func(ctx context.Context) error { return i.spec.Host.Cast(ctx, alias, msg) })
	}()
	return nil
}
