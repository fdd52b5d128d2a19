package wasm

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// wat compiles WebAssembly text with wabt's wat2wasm. Without it the test
// skips, or fails when EDGELESS_REQUIRE_WABT=1 (CI sets it).
func wat(t testing.TB, src string) []byte {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		if os.Getenv("EDGELESS_REQUIRE_WABT") == "1" {
			t.Fatalf("wat2wasm not found (apt-get install wabt): %v", err)
		}
		t.Skipf("wat2wasm not found (apt-get install wabt); skipping")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tool, in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var probeOnce struct {
	sync.Once
	src []byte
}

// probe returns the probe module (testdata/probe.wat).
func probe(t testing.TB) []byte {
	t.Helper()
	probeOnce.Do(func() {
		b, err := os.ReadFile("testdata/probe.wat")
		if err != nil {
			panic(err)
		}
		probeOnce.src = b
	})
	return wat(t, string(probeOnce.src))
}

// sent is one thing the instance asked its host to do.
type sent struct {
	Op     string // cast, cast_raw, call, call_raw, sync, log
	Target string // alias, destination function id, or log target
	Dst    contract.InstanceID
	Msg    []byte
	Level  edgelessapi.TelemetryLogLevel
}

// recHost is a contract.Host that records what an instance sends, and
// answers calls with onCall (default: NoReply).
type recHost struct {
	ch     chan sent
	onCall func(ctx context.Context, target string, msg []byte) (contract.Reply, error)
	castFn func(alias string) error
}

func newRecHost() *recHost { return &recHost{ch: make(chan sent, 1000)} }

func (h *recHost) Cast(ctx context.Context, alias string, msg []byte) error {
	if h.castFn != nil {
		if err := h.castFn(alias); err != nil {
			return err
		}
	}
	h.ch <- sent{Op: "cast", Target: alias, Msg: msg}
	return nil
}

func (h *recHost) CastRaw(ctx context.Context, dst contract.InstanceID, msg []byte) error {
	h.ch <- sent{Op: "cast_raw", Target: dst.FunctionID, Dst: dst, Msg: msg}
	return nil
}

func (h *recHost) Call(ctx context.Context, alias string, msg []byte) (contract.Reply, error) {
	h.ch <- sent{Op: "call", Target: alias, Msg: msg}
	if h.onCall != nil {
		return h.onCall(ctx, alias, msg)
	}
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil
}

func (h *recHost) CallRaw(ctx context.Context, dst contract.InstanceID, msg []byte) (contract.Reply, error) {
	h.ch <- sent{Op: "call_raw", Target: dst.FunctionID, Dst: dst, Msg: msg}
	if h.onCall != nil {
		return h.onCall(ctx, dst.FunctionID, msg)
	}
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil
}

func (h *recHost) Sync(ctx context.Context, state []byte) error {
	h.ch <- sent{Op: "sync", Msg: state}
	return nil
}

func (h *recHost) TelemetryLog(ctx context.Context, level edgelessapi.TelemetryLogLevel, target, msg string) {
	h.ch <- sent{Op: "log", Target: target, Msg: []byte(msg), Level: level}
}

// next returns the next recorded action, failing after a while.
func (h *recHost) next(t testing.TB) sent {
	t.Helper()
	select {
	case s := <-h.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the instance sent nothing")
		return sent{}
	}
}

// none checks that nothing more was recorded.
func (h *recHost) none(t testing.TB) {
	t.Helper()
	select {
	case s := <-h.ch:
		t.Fatalf("unexpected %s %q %q", s.Op, s.Target, s.Msg)
	default:
	}
}

func newTestRuntime(t testing.TB, cfg Config) *Runtime {
	t.Helper()
	if cfg.Logger == nil && os.Getenv("EDGELESS_TEST_LOG") != "1" {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func newID() contract.InstanceID {
	return contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
}

// startProbe starts the probe module on r with host h.
func startProbe(t testing.TB, r *Runtime, h *recHost, mod func(*contract.StartSpec)) *Instance {
	t.Helper()
	spec := contract.StartSpec{ID: newID(), ClassID: "probe", FunctionType: FunctionType, Binary: probe(t), Host: h}
	if mod != nil {
		mod(&spec)
	}
	inst, err := r.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	i := inst.(*Instance)
	if got := h.next(t); got.Op != "log" || got.Target != "init" {
		t.Fatalf("first action = %+v, want the init log", got)
	}
	return i
}

func isEnded(err error) bool { return errors.Is(err, ErrInstanceEnded) }
