// Package process holds what the node's programs (edgeless-node,
// edgeless-inabox) share at the process level: the logger their flags
// describe (and grpc-go's logger routed into it, GRPCLogger) and the signal
// handling of a graceful shutdown.
package process

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// NewLogger returns a logger writing records of level (debug, info, warn,
// error) and above to w, in format "text" or "json".
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// SignalContext returns a context that is cancelled by the first SIGINT or
// SIGTERM, which starts a graceful shutdown. After it the default handling
// is back, so a second signal ends the process at once. The returned cancel
// releases the signal handling.
func SignalContext(parent context.Context, log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sigs)
		select {
		case s := <-sigs:
			signal.Stop(sigs) // the next signal gets the default handling
			log.Info("shutting down; send the signal again to exit at once", "signal", s.String())
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
