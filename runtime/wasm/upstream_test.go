package wasm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// upstreamModule reads one of upstream EDGELESS's prebuilt test modules
// (functions/*/*.wasm in its repository, built from Rust with
// edgeless_function) from the directory EDGELESS_UPSTREAM_WASM. They are not
// in this repository; without the variable the test skips.
func upstreamModule(t *testing.T, name string) []byte {
	t.Helper()
	dir := os.Getenv("EDGELESS_UPSTREAM_WASM")
	if dir == "" {
		t.Skip("EDGELESS_UPSTREAM_WASM is not set: skipping the run of upstream's prebuilt modules (messaging_test.wasm, state_test.wasm, system_test.wasm)")
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func info(target, msg string) sent {
	return sent{Op: "log", Target: target, Msg: []byte(msg), Level: edgelessapi.TelemetryLogLevel_LOG_INFO}
}

// Upstream's messaging_test module, as upstream's own runner tests drive it.
func TestUpstream_MessagingTest(t *testing.T) {
	t.Parallel()
	bin := upstreamModule(t, "messaging_test.wasm")
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	h.onCall = func(_ context.Context, _ string, _ []byte) (contract.Reply, error) {
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("peer_reply")}, nil
	}
	inst, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: bin, Host: h, InitPayload: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(info("messaging_test", "Messaging Test Init"), h.next(t)); d != "" {
		t.Errorf("init (-want +got):\n%s", d)
	}
	src := newID()
	for _, tt := range []struct {
		msg  string
		want sent
	}{
		{"test_cast_output", sent{Op: "cast", Target: "test", Msg: []byte("cast_output")}},
		{"test_cast_raw_output", sent{Op: "cast_raw", Target: src.FunctionID, Dst: src, Msg: []byte("cast_raw_output")}},
		{"test_call_output", sent{Op: "call", Target: "test", Msg: []byte("call_output")}},
		{"test_call_raw_output", sent{Op: "call_raw", Target: src.FunctionID, Dst: src, Msg: []byte("call_raw_output")}},
		{"test_delayed_cast_output", sent{Op: "cast", Target: "test", Msg: []byte("delayed_cast_output")}},
		{"some_message", info("messaging_test", "Unprocessed Message")},
	} {
		if err := inst.Cast(t.Context(), src, []byte(tt.msg)); err != nil {
			t.Fatalf("Cast(%q): %v", tt.msg, err)
		}
		if d := cmp.Diff(tt.want, h.next(t)); d != "" {
			t.Errorf("Cast(%q) (-want +got):\n%s", tt.msg, d)
		}
	}
	for _, tt := range []struct {
		msg  string
		want contract.Reply
	}{
		{"test_ret", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("test_reply")}},
		{"test_err", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}},
		{"some_cast", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}},
	} {
		got, err := inst.Call(t.Context(), src, []byte(tt.msg))
		if err != nil {
			t.Fatalf("Call(%q): %v", tt.msg, err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("Call(%q) (-want +got):\n%s", tt.msg, d)
		}
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(info("messaging_test", "Messaging Test Stop"), h.next(t)); d != "" {
		t.Errorf("stop (-want +got):\n%s", d)
	}
	// Rust's strict UTF-8 decoding traps on a non-UTF-8 payload: the
	// instance ends cleanly with the reason.
	inst2, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: bin, Host: h})
	if err != nil {
		t.Fatal(err)
	}
	h.next(t)
	if err := inst2.Cast(t.Context(), src, []byte("\xff\xfe")); !isEnded(err) {
		t.Errorf("Cast(non-UTF-8) = %v, want ErrInstanceEnded (the guest traps)", err)
	}
	h.none(t)
}

// Upstream's state_test module: state in at init, sync out.
func TestUpstream_StateTest(t *testing.T) {
	t.Parallel()
	bin := upstreamModule(t, "state_test.wasm")
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	inst, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: bin, Host: h})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(info("state_test", "no_state"), h.next(t)); d != "" {
		t.Errorf("init without state (-want +got):\n%s", d)
	}
	if err := inst.Cast(t.Context(), newID(), []byte("test_cast_raw_output")); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sent{Op: "sync", Msg: []byte("new_state")}, h.next(t)); d != "" {
		t.Errorf("sync (-want +got):\n%s", d)
	}
	if _, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: bin, Host: h, State: []byte("existing_state")}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(info("edgeless_test_state", "existing_state"), h.next(t)); d != "" {
		t.Errorf("init with state (-want +got):\n%s", d)
	}
}

// Upstream's system_test module: integer arithmetic over four outputs.
func TestUpstream_SystemTest(t *testing.T) {
	t.Parallel()
	bin := upstreamModule(t, "system_test.wasm")
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	inst, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: bin, Host: h})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(info("system_test", "started: None"), h.next(t)); d != "" {
		t.Errorf("init (-want +got):\n%s", d)
	}
	if err := inst.Cast(t.Context(), newID(), []byte("-7")); err != nil {
		t.Fatal(err)
	}
	h.next(t) // the log line with the source id
	for _, want := range []sent{
		{Op: "cast", Target: "out1", Msg: []byte("-3")},
		{Op: "cast", Target: "out2", Msg: []byte("-8")},
		{Op: "cast", Target: "log", Msg: []byte("-7")},
	} {
		if d := cmp.Diff(want, h.next(t)); d != "" {
			t.Errorf("cast -7 (-want +got):\n%s", d)
		}
	}
}
