package main

import (
	"context"
	"fmt"
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

// Cast logs the event through the node's telemetry and to stdout.
func (s *sink) Cast(ctx context.Context, src guest.InstanceID, msg []byte) error {
	n := s.count.Add(1)
	slog.InfoContext(ctx, "event", "n", n, "msg", string(msg), "from", src.FunctionID)
	return s.host.TelemetryLog(ctx, guest.LogInfo, logTarget, fmt.Sprintf("event %d: %s", n, msg))
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
