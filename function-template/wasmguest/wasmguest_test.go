package wasmguest

import (
	"errors"
	"testing"
	"time"
)

// Outside wasip1 the host methods say so instead of doing nothing.
func TestHost_NotWasm(t *testing.T) {
	t.Parallel()
	h := &Host{}
	id := InstanceID{NodeID: "0b8a3b7e-6b1e-4f57-9c52-6f7d2c0e1a11", FunctionID: "5f0c7a3e-2b4d-4e8f-a1c6-9d3e7b2f4a10"}
	for name, err := range map[string]error{
		"Cast":        h.Cast(t.Context(), "out", nil),
		"CastRaw":     h.CastRaw(t.Context(), id, nil),
		"DelayedCast": h.DelayedCast(t.Context(), "out", time.Second, nil),
		"Sync":        h.Sync(t.Context(), nil),
		"Log":         h.TelemetryLog(t.Context(), LogInfo, "t", "m"),
	} {
		if !errors.Is(err, ErrNotWasm) {
			t.Errorf("%s = %v, want ErrNotWasm", name, err)
		}
	}
	if _, err := h.Call(t.Context(), "out", nil); !errors.Is(err, ErrNotWasm) {
		t.Errorf("Call = %v, want ErrNotWasm", err)
	}
}

func TestHost_BadArguments(t *testing.T) {
	t.Parallel()
	h := &Host{}
	if err := h.CastRaw(t.Context(), InstanceID{NodeID: "x", FunctionID: "y"}, nil); err == nil || errors.Is(err, ErrNotWasm) {
		t.Errorf("CastRaw to a bad id = %v, want an error naming the id", err)
	}
	if _, err := h.CallRaw(t.Context(), InstanceID{NodeID: "0b8a3b7e-6b1e-4f57-9c52-6f7d2c0e1a11", FunctionID: ""}, nil); err == nil || errors.Is(err, ErrNotWasm) {
		t.Errorf("CallRaw to a bad id = %v, want an error naming the id", err)
	}
	if err := h.DelayedCast(t.Context(), "out", -time.Second, nil); err == nil || errors.Is(err, ErrNotWasm) {
		t.Errorf("DelayedCast with a negative delay = %v, want an error", err)
	}
	for _, lv := range []LogLevel{0, 6} {
		if err := h.TelemetryLog(t.Context(), lv, "t", "m"); err == nil || errors.Is(err, ErrNotWasm) {
			t.Errorf("TelemetryLog(level %d) = %v, want an error", lv, err)
		}
	}
}

func TestInstanceID_Raw(t *testing.T) {
	t.Parallel()
	id := InstanceID{NodeID: "0b8a3b7e-6b1e-4f57-9c52-6f7d2c0e1a11", FunctionID: "5f0c7a3e-2b4d-4e8f-a1c6-9d3e7b2f4a10"}
	n, f, err := id.raw()
	if err != nil {
		t.Fatal(err)
	}
	if got := idFromRaw(n[:], f[:]); got != id {
		t.Errorf("idFromRaw(raw(%v)) = %v", id, got)
	}
	if n[0] != 0x0b || f[15] != 0x10 {
		t.Errorf("raw bytes %x %x are not in RFC 4122 order", n, f)
	}
}
