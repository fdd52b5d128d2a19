package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

// logTarget is the TelemetryLog target of the sink's lines.
const logTarget = "sink"

// sink is the guest.Function.
type sink struct {
	host  *guest.Host
	out   io.Writer // stdout
	count atomic.Int64
}

var _ guest.Function = (*sink)(nil)

func (s *sink) Init(ctx context.Context, host *guest.Host, payload string, _ []byte) error {
	if payload != "" {
		return fmt.Errorf("init payload %q: the sink takes no options", payload)
	}
	s.host = host
	slog.InfoContext(ctx, "sink initialised", "instance", host.ID())
	return nil
}

// Cast writes the event, numbered, to stdout (the container's output,
// which its node keeps: `edgeless function logs`) and through the node's
// telemetry (`edgeless function logs --telemetry`).
func (s *sink) Cast(ctx context.Context, _ guest.InstanceID, msg []byte) error {
	line := fmt.Sprintf("event %d: %s", s.count.Add(1), msg)
	fmt.Fprintln(s.out, line)
	return s.host.TelemetryLog(ctx, guest.LogInfo, logTarget, line)
}

// Call answers "count" with the number of events received.
func (s *sink) Call(_ context.Context, _ guest.InstanceID, msg []byte) (guest.Reply, error) {
	if string(msg) != "count" {
		return guest.Reply{}, fmt.Errorf("unknown call %q: the sink answers \"count\"", msg)
	}
	return guest.ReplyMsg([]byte(strconv.FormatInt(s.count.Load(), 10))), nil
}

func (s *sink) Stop(ctx context.Context) error {
	slog.InfoContext(ctx, "sink stopped", "events", s.count.Load())
	return nil
}
