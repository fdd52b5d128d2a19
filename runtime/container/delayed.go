package container

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Defaults of Config.MaxDelayedCasts and Config.MaxDelayedCastBytes.
const (
	DefaultMaxDelayedCasts     = 10_000
	DefaultMaxDelayedCastBytes = 64 << 20
)

// ErrTooManyDelayedCasts: the instance has Config.MaxDelayedCasts waiting.
var ErrTooManyDelayedCasts = errors.New("too many delayed casts waiting")

// scheduleDelayedCast casts msg to alias through the instance's host after
// delayMs milliseconds, unless the instance ends first. Each pending cast
// is one timer and one goroutine that teardown waits for.
func (i *Instance) scheduleDelayedCast(alias string, msg []byte, delayMs uint64) error {
	i.mu.Lock()
	if i.ending {
		i.mu.Unlock()
		return fmt.Errorf("delayed cast: instance %s is ending", i.id.FunctionID)
	}
	if limit := i.rt.cfg.MaxDelayedCasts; i.delayedPending >= limit {
		i.mu.Unlock()
		return fmt.Errorf("delayed cast: instance %s has %d waiting: %w", i.id.FunctionID, limit, ErrTooManyDelayedCasts)
	}
	size := int64(len(msg) + len(alias))
	if limit := i.rt.cfg.MaxDelayedCastBytes; i.delayedBytes+size > limit {
		i.mu.Unlock()
		return fmt.Errorf("delayed cast: instance %s has %d bytes waiting, %d more exceed %d: %w",
			i.id.FunctionID, i.delayedBytes, size, limit, ErrTooManyDelayedCasts)
	}
	i.delayedPending++
	i.delayedBytes += size
	i.owned.Add(1)
	i.mu.Unlock()
	d := time.Duration(math.MaxInt64)
	if delayMs < uint64(math.MaxInt64/int64(time.Millisecond)) {
		d = time.Duration(delayMs) * time.Millisecond
	}
	go func() {
		defer i.owned.Done()
		defer func() {
			i.mu.Lock()
			i.delayedPending--
			i.delayedBytes -= size
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
		ctx, cancel := i.callContext(i.alive)
		defer cancel()
		err := i.spec.Host.Cast(ctx, alias, msg)
		switch {
		case errors.Is(err, contract.ErrUnknownAlias):
			i.dropCast(alias)
		case err != nil && i.alive.Err() == nil:
			i.log.Warn("delayed cast failed", slog.String("alias", alias), slog.Any("error", err))
		}
	}()
	return nil
}
