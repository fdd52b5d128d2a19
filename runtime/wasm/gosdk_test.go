package wasm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

var goExample struct {
	sync.Once
	bin []byte
	err error
	out string
}

// goExampleModule builds ../function-template/cmd/wasmexample (the Go SDK's
// example) as a wasip1 reactor module, once per test binary.
func goExampleModule(t testing.TB) []byte {
	t.Helper()
	goExample.Do(func() {
		dir, err := os.MkdirTemp("", "wasmexample")
		if err != nil {
			goExample.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "fn.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./cmd/wasmexample")
		cmd.Dir = "../../function-template"
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		b, err := cmd.CombinedOutput()
		if err != nil {
			goExample.err, goExample.out = err, string(b)
			return
		}
		goExample.bin, goExample.err = os.ReadFile(out)
	})
	if goExample.err != nil {
		t.Fatalf("build the Go example module: %v\n%s", goExample.err, goExample.out)
	}
	return goExample.bin
}

func startGoExample(t *testing.T, r *Runtime, h *recHost, mod func(*contract.StartSpec)) *Instance {
	t.Helper()
	spec := contract.StartSpec{ID: newID(), ClassID: "wasmexample", Binary: goExampleModule(t), Host: h,
		InitPayload: "k=v", State: []byte("saved")}
	if mod != nil {
		mod(&spec)
	}
	inst, err := r.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := sent{Op: "log", Target: "wasmexample", Msg: []byte(`init payload="k=v" state=5 bytes`), Level: edgelessapi.TelemetryLogLevel_LOG_INFO}
	if d := cmp.Diff(want, h.next(t)); d != "" {
		t.Fatalf("init (-want +got):\n%s", d)
	}
	return inst.(*Instance)
}

// goSDKConfig keeps compiled code on disk: a Go module takes long to
// compile under the race detector, so these tests share it (and do not run
// in parallel with each other).
func goSDKConfig() Config {
	return Config{CacheDir: filepath.Join(os.TempDir(), "edgeless-wasm-test-cache")}
}

func TestGoSDK_Example(t *testing.T) {
	r := newTestRuntime(t, goSDKConfig())
	h := newRecHost()
	h.onCall = func(ctx context.Context, target string, msg []byte) (contract.Reply, error) {
		switch string(msg) {
		case "no":
			return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil
		case "err":
			return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}, nil
		}
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: append([]byte("re:"), msg...)}, nil
	}
	i := startGoExample(t, r, h, nil)
	src := newID()
	reply := func(m string) contract.Reply {
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte(m)}
	}
	errReply := contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}
	tests := []struct {
		name  string
		msg   string
		want  contract.Reply
		sends []sent
	}{
		{"echo non-UTF-8", "\xff\x00hi", reply("\xff\x00hi"), nil},
		{"recast", "recast out x y", reply("ok"), []sent{{Op: "cast", Target: "out", Msg: []byte("x y")}}},
		{"castraw", "castraw " + src.NodeID + " " + src.FunctionID + " raw", reply("ok"), []sent{{Op: "cast_raw", Target: src.FunctionID, Dst: src, Msg: []byte("raw")}}},
		{"recall reply", "recall out ping", reply("re:ping"), []sent{{Op: "call", Target: "out", Msg: []byte("ping")}}},
		{"recall no reply", "recall out no", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, []sent{{Op: "call", Target: "out", Msg: []byte("no")}}},
		{"recall err", "recall out err", errReply, []sent{{Op: "call", Target: "out", Msg: []byte("err")},
			{Op: "log", Target: "wasmguest", Msg: []byte("call: call failed"), Level: edgelessapi.TelemetryLogLevel_LOG_ERROR}}},
		{"callraw", "callraw " + src.NodeID + " " + src.FunctionID + " p", reply("re:p"), []sent{{Op: "call_raw", Target: src.FunctionID, Dst: src, Msg: []byte("p")}}},
		{"delayed", "delayed 10 out later", reply("ok"), []sent{{Op: "cast", Target: "out", Msg: []byte("later")}}},
		{"state from init", "state", reply("saved"), nil},
		{"sync", "sync s2", reply("ok"), []sent{{Op: "sync", Msg: []byte("s2")}}},
		{"state after sync", "state", reply("s2"), nil},
		{"log", "log tgt hello", reply("ok"), []sent{{Op: "log", Target: "tgt", Msg: []byte("hello"), Level: edgelessapi.TelemetryLogLevel_LOG_INFO}}},
		{"self", "self", reply(i.id.NodeID + " " + i.id.FunctionID), nil},
		{"noreply", "noreply", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil},
		{"fail", "fail bad", errReply, []sent{{Op: "log", Target: "wasmguest", Msg: []byte("call: fail: bad"), Level: edgelessapi.TelemetryLogLevel_LOG_ERROR}}},
		{"panic", "panic", errReply, []sent{{Op: "log", Target: "wasmguest", Msg: []byte("call panicked: panic command"), Level: edgelessapi.TelemetryLogLevel_LOG_ERROR}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := i.Call(t.Context(), src, []byte(tt.msg))
			if err != nil {
				t.Fatalf("Call(%q): %v", tt.msg, err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Call(%q) (-want +got):\n%s", tt.msg, d)
			}
			for _, w := range tt.sends {
				if d := cmp.Diff(w, h.next(t)); d != "" {
					t.Errorf("Call(%q) sent (-want +got):\n%s", tt.msg, d)
				}
			}
			h.none(t)
		})
	}
	if err := i.Cast(t.Context(), src, []byte("plain")); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sent{Op: "cast", Target: "output", Msg: []byte("plain")}, h.next(t)); d != "" {
		t.Errorf("cast (-want +got):\n%s", d)
	}
	// Replies do not leak guest memory.
	before := i.mod.Memory().Size()
	big := bytes.Repeat([]byte("z"), 100_000)
	for range 300 {
		if _, err := i.Call(t.Context(), src, big); err != nil {
			t.Fatal(err)
		}
	}
	if after := i.mod.Memory().Size(); after > before+8<<20 {
		t.Errorf("memory grew from %d to %d bytes over 300 calls of 100 kB", before, after)
	}
	if err := i.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sent{Op: "log", Target: "wasmexample", Msg: []byte("stopped"), Level: edgelessapi.TelemetryLogLevel_LOG_INFO}, h.next(t)); d != "" {
		t.Errorf("stop (-want +got):\n%s", d)
	}
}

// A Go guest that calls out and is called back (A -> B -> A).
func TestGoSDK_NestedCall(t *testing.T) {
	r := newTestRuntime(t, goSDKConfig())
	h := newRecHost()
	var self *Instance
	h.onCall = func(ctx context.Context, target string, msg []byte) (contract.Reply, error) {
		return self.Call(ctx, newID(), msg)
	}
	self = startGoExample(t, r, h, nil)
	got, err := self.Call(t.Context(), newID(), []byte("recall out recall out inner"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("inner")}, got); d != "" {
		t.Errorf("A->B->A->B->A (-want +got):\n%s", d)
	}
	for range 2 {
		if s := h.next(t); s.Op != "call" {
			t.Errorf("got %+v, want a call", s)
		}
	}
}
