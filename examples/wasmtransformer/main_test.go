package main

import (
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/function-template/wasmguest"
)

// The module itself runs in TestE2E_DemoMixed (node/internal/cli); here
// what does not need a node.
func TestTransformer_Init(t *testing.T) {
	t.Parallel()
	var f transformer
	if err := f.Init(t.Context(), &wasmguest.Host{}, "mode=sideways", nil); err == nil || !strings.Contains(err.Error(), `mode="sideways"`) {
		t.Errorf("Init(mode=sideways) = %v, want an error naming the mode", err)
	}
	// Outside wasip1 the host refuses the init log line, after the mode is set.
	_ = f.Init(t.Context(), &wasmguest.Host{}, "mode=reverse", nil)
	got, err := f.Call(t.Context(), wasmguest.InstanceID{}, []byte("tick 1"))
	if msg, ok := got.Msg(); err != nil || !ok || string(msg) != "1 kcit" {
		t.Errorf("Call(tick 1) = %q, %v, want 1 kcit", msg, err)
	}
}
