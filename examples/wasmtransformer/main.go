// Command wasmtransformer is the transformer example as a RUST_WASM function
// (upstream's WASM ABI, written with function-template/wasmguest): it casts
// each event, transformed, to "output" and answers calls with the
// transformed payload. Init payload: mode=upper (default) or mode=reverse.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o wasmtransformer.wasm ./wasmtransformer
package main

import (
	"context"

	"github.com/edgeless-go/edgeless/examples/internal/transform"
	"github.com/edgeless-go/edgeless/function-template/wasmguest"
)

func init() { wasmguest.Register(&transformer{}) }

// main is not called: the module is a reactor.
func main() {}

type transformer struct {
	host      *wasmguest.Host
	transform func(string) string
}

var _ wasmguest.Function = (*transformer)(nil)

func (t *transformer) Init(ctx context.Context, host *wasmguest.Host, payload string, _ []byte) error {
	tr, err := transform.FromInitPayload(payload)
	if err != nil {
		return err
	}
	t.transform = tr
	t.host = host
	return host.TelemetryLog(ctx, wasmguest.LogInfo, "transformer", "WASM transformer initialised")
}

// Cast casts the transformed payload to "output".
func (t *transformer) Cast(ctx context.Context, _ wasmguest.InstanceID, msg []byte) error {
	return t.host.Cast(ctx, "output", []byte(t.transform(string(msg))))
}

// Call answers the transformed payload.
func (t *transformer) Call(_ context.Context, _ wasmguest.InstanceID, msg []byte) (wasmguest.Reply, error) {
	return wasmguest.ReplyMsg([]byte(t.transform(string(msg)))), nil
}

func (t *transformer) Stop(context.Context) error { return nil }
