package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

// outputAlias is the alias the default cast handler re-casts to, as in the
// upstream templates.
const outputAlias = "output"

// function is the example guest.Function. Init sets its fields; Cast and
// Call run concurrently and only read them, except the state.
type function struct {
	host      *guest.Host
	castDelay time.Duration
	log       *slog.Logger

	mu    sync.Mutex
	state []byte // received in Init or last synced
}

var _ guest.Function = (*function)(nil)

// Init reads the init payload options and remembers the saved state.
func (f *function) Init(ctx context.Context, host *guest.Host, payload string, state []byte) error {
	opts, err := parseInitPayload(payload)
	if err != nil {
		return err
	}
	f.log = slog.Default().With("instance", host.ID())
	for _, k := range opts.unknown {
		f.log.WarnContext(ctx, "ignoring unknown init payload option", "option", k)
	}
	f.host = host
	f.castDelay = opts.castDelay
	f.mu.Lock()
	f.state = state
	f.mu.Unlock()
	f.log.InfoContext(ctx, "example function initialised", "cast_delay", f.castDelay, "state_bytes", len(state))
	return nil
}

// Cast runs a payload command, or else re-casts the payload unchanged to
// the alias "output" after the configured delay.
func (f *function) Cast(ctx context.Context, _ guest.InstanceID, msg []byte) error {
	if _, ok, err := f.run(ctx, msg); ok {
		return err
	}
	if f.castDelay > 0 {
		t := time.NewTimer(f.castDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("cast delay: %w", ctx.Err())
		}
	}
	return f.host.Cast(ctx, outputAlias, msg)
}

// Call runs a payload command, or else echoes the payload unchanged.
func (f *function) Call(ctx context.Context, _ guest.InstanceID, msg []byte) (guest.Reply, error) {
	if reply, ok, err := f.run(ctx, msg); ok {
		return reply, err
	}
	return guest.ReplyMsg(msg), nil
}

// Stop has nothing to release.
func (f *function) Stop(ctx context.Context) error {
	f.log.InfoContext(ctx, "example function stopped")
	return nil
}

// initOptions are the options of the init payload.
type initOptions struct {
	castDelay time.Duration
	unknown   []string
}

// parseInitPayload parses comma-separated key=value options. Known keys:
// cast-delay-ms (non-negative integer, default 0). Unknown keys and entries
// without "=" are reported in unknown, so that a payload meant for another
// function does not break this one; a bad value of a known key is an error.
func parseInitPayload(payload string) (initOptions, error) {
	var o initOptions
	for _, entry := range strings.Split(payload, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		key, value, ok := strings.Cut(entry, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok {
			o.unknown = append(o.unknown, entry)
			continue
		}
		switch key {
		case "cast-delay-ms":
			ms, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return initOptions{}, fmt.Errorf("init payload option cast-delay-ms=%q: want a non-negative integer of milliseconds", value)
			}
			o.castDelay = time.Duration(ms) * time.Millisecond
		default:
			o.unknown = append(o.unknown, key)
		}
	}
	return o, nil
}
