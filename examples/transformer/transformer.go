package main

import (
	"context"
	"log/slog"

	"github.com/edgeless-go/edgeless/examples/internal/transform"
	"github.com/edgeless-go/edgeless/function-template/guest"
)

// transformer is the guest.Function; Init sets its fields.
type transformer struct {
	host      *guest.Host
	transform func(string) string
}

var _ guest.Function = (*transformer)(nil)

func (t *transformer) Init(ctx context.Context, host *guest.Host, payload string, _ []byte) error {
	tr, err := transform.FromInitPayload(payload)
	if err != nil {
		return err
	}
	t.transform = tr
	t.host = host
	slog.InfoContext(ctx, "transformer initialised", "instance", host.ID())
	return nil
}

// Cast casts the transformed payload to "output".
func (t *transformer) Cast(ctx context.Context, _ guest.InstanceID, msg []byte) error {
	return t.host.Cast(ctx, "output", []byte(t.transform(string(msg))))
}

// Call answers the transformed payload.
func (t *transformer) Call(_ context.Context, _ guest.InstanceID, msg []byte) (guest.Reply, error) {
	return guest.ReplyMsg([]byte(t.transform(string(msg)))), nil
}

func (t *transformer) Stop(context.Context) error { return nil }
