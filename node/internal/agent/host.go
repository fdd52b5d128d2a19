package agent

import (
	"context"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// instanceHost is the contract.Host the node gives one instance. It
// combines the node's services: the data plane delivers the instance's
// events (through its Mailbox, which resolves the instance's aliases), the
// state store keeps its state, and telemetry records its log lines.
type instanceHost struct {
	a    *Agent
	in   *instance
	mbox *dataplane.Mailbox
}

var _ contract.Host = instanceHost{}

// Cast sends msg to the target mapped to alias.
func (h instanceHost) Cast(ctx context.Context, alias string, msg []byte) error {
	err := h.mbox.Cast(ctx, alias, msg)
	if err == nil {
		h.in.sent.add(alias)
	}
	return err
}

// CastRaw sends msg to dst.
func (h instanceHost) CastRaw(ctx context.Context, dst contract.InstanceID, msg []byte) error {
	return h.mbox.CastRaw(ctx, dst, msg)
}

// Call sends msg to the target mapped to alias and waits for its reply.
func (h instanceHost) Call(ctx context.Context, alias string, msg []byte) (contract.Reply, error) {
	reply, err := h.mbox.Call(ctx, alias, msg)
	if err == nil {
		h.in.sent.add(alias)
	}
	return reply, err
}

// CallRaw sends msg to dst and waits for its reply.
func (h instanceHost) CallRaw(ctx context.Context, dst contract.InstanceID, msg []byte) (contract.Reply, error) {
	return h.mbox.CallRaw(ctx, dst, msg)
}

// Sync saves the instance's state in the node's state store.
func (h instanceHost) Sync(_ context.Context, state []byte) error {
	return h.a.sync(h.in, state)
}

// TelemetryLog records a log line of the instance through telemetry.
func (h instanceHost) TelemetryLog(_ context.Context, level edgelessapi.TelemetryLogLevel, target, msg string) {
	h.a.cfg.Recorder.FunctionLog(h.in.id.FunctionID, level, target, msg)
}
