package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

func TestInstance_InitPayloadAndState(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	inst, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), ClassID: "probe", Binary: probe(t),
		Host: h, InitPayload: "k1=v1", State: []byte("saved\xff")})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := []sent{
		{Op: "log", Target: "init", Msg: []byte("k1=v1"), Level: edgelessapi.TelemetryLogLevel_LOG_INFO},
		{Op: "log", Target: "state", Msg: []byte("saved\uFFFD"), Level: edgelessapi.TelemetryLogLevel_LOG_INFO},
	}
	for _, w := range want {
		if d := cmp.Diff(w, h.next(t)); d != "" {
			t.Errorf("init (-want +got):\n%s", d)
		}
	}
	info := inst.Info()
	if info.State != contract.StateRunning || info.ClassID != "probe" || info.StartedAt.IsZero() {
		t.Errorf("Info() = %+v, want running probe with a start time", info)
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := cmp.Diff(sent{Op: "log", Target: "stop", Msg: []byte("stop"), Level: edgelessapi.TelemetryLogLevel_LOG_INFO}, h.next(t)); d != "" {
		t.Errorf("stop (-want +got):\n%s", d)
	}
	if got := inst.Info().State; got != contract.StateStopped {
		t.Errorf("state after Stop = %s, want stopped", got)
	}
	if err := inst.Cast(t.Context(), newID(), []byte("cx")); !errors.Is(err, contract.ErrInstanceStopped) {
		t.Errorf("Cast after Stop = %v, want ErrInstanceStopped", err)
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Errorf("second Stop = %v, want the first's nil", err)
	}
	if _, ok := r.Instance(inst.ID()); ok {
		t.Error("a stopped instance is still registered")
	}
	h.none(t)
}

func TestInstance_CastImports(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	i := startProbe(t, r, h, nil)
	src := newID()
	srcN, srcC := uuid.MustParse(src.NodeID), uuid.MustParse(src.FunctionID)
	ids := func(a, b uuid.UUID) []byte { return append(append([]byte{}, a[:]...), b[:]...) }
	tests := []struct {
		name string
		msg  string
		want sent
	}{
		{"cast", "chello", sent{Op: "cast", Target: "out", Msg: []byte("hello")}},
		{"cast empty", "c", sent{Op: "cast", Target: "out", Msg: []byte{}}},
		{"cast non-UTF-8", "c\xff\xfe\x00", sent{Op: "cast", Target: "out", Msg: []byte("\xff\xfe\x00")}},
		{"cast_raw to source", "rraw", sent{Op: "cast_raw", Target: src.FunctionID, Dst: src, Msg: []byte("raw")}},
		{"delayed cast", "dlater", sent{Op: "cast", Target: "out", Msg: []byte("later")}},
		{"log error", "l1e", sent{Op: "log", Target: "probe", Msg: []byte("e"), Level: edgelessapi.TelemetryLogLevel_LOG_ERROR}},
		{"log warn", "l2w", sent{Op: "log", Target: "probe", Msg: []byte("w"), Level: edgelessapi.TelemetryLogLevel_LOG_WARN}},
		{"log info", "l3i", sent{Op: "log", Target: "probe", Msg: []byte("i"), Level: edgelessapi.TelemetryLogLevel_LOG_INFO}},
		{"log debug", "l4d", sent{Op: "log", Target: "probe", Msg: []byte("d"), Level: edgelessapi.TelemetryLogLevel_LOG_DEBUG}},
		{"log trace", "l5t", sent{Op: "log", Target: "probe", Msg: []byte("t"), Level: edgelessapi.TelemetryLogLevel_LOG_TRACE}},
		{"log unknown level is error", "l9x", sent{Op: "log", Target: "probe", Msg: []byte("x"), Level: edgelessapi.TelemetryLogLevel_LOG_ERROR}},
		{"log non-UTF-8 text", "l3\xff", sent{Op: "log", Target: "probe", Msg: []byte("\uFFFD"), Level: edgelessapi.TelemetryLogLevel_LOG_INFO}},
		{"slf", "s", sent{Op: "cast", Target: "out", Msg: ids(i.nodeU, i.fnU)}},
		{"source ids", "i", sent{Op: "cast", Target: "out", Msg: ids(srcN, srcC)}},
		{"sync", "Snew_state", sent{Op: "sync", Msg: []byte("new_state")}},
		{"sync non-UTF-8", "S\xc0", sent{Op: "sync", Msg: []byte("\xc0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := i.Cast(t.Context(), src, []byte(tt.msg)); err != nil {
				t.Fatalf("Cast(%q): %v", tt.msg, err)
			}
			if d := cmp.Diff(tt.want, h.next(t)); d != "" {
				t.Errorf("Cast(%q) sent (-want +got):\n%s", tt.msg, d)
			}
			h.none(t)
		})
	}
	if got := i.Info().State; got != contract.StateRunning {
		t.Errorf("state = %s, want running", got)
	}
}

func TestInstance_CastUnknownAliasDropped(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	h.castFn = func(alias string) error { return contract.ErrUnknownAlias }
	i := startProbe(t, r, h, nil)
	for range 3 {
		if err := i.Cast(t.Context(), newID(), []byte("cx")); err != nil {
			t.Fatalf("Cast: %v", err)
		}
	}
	if got := i.Info().DroppedCasts; got != 3 {
		t.Errorf("DroppedCasts = %d, want 3", got)
	}
}

func TestInstance_CallReturnKinds(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	i := startProbe(t, r, h, nil)
	tests := []struct {
		msg  string
		want contract.Reply
	}{
		{"ereply", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("reply")}},
		{"e", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte{}}},
		{"e\xff\x00\xfe", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("\xff\x00\xfe")}},
		{"n", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}},
		{"E", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}},
		{"?", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}}, // the guest returns 7
	}
	for _, tt := range tests {
		got, err := i.Call(t.Context(), newID(), []byte(tt.msg))
		if err != nil {
			t.Fatalf("Call(%q): %v", tt.msg, err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("Call(%q) (-want +got):\n%s", tt.msg, d)
		}
	}
	h.none(t)
}

func TestInstance_GuestCalls(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	var answer func() (contract.Reply, error)
	var mu sync.Mutex
	h.onCall = func(ctx context.Context, target string, msg []byte) (contract.Reply, error) {
		mu.Lock()
		defer mu.Unlock()
		return answer()
	}
	set := func(r contract.Reply, err error) {
		mu.Lock()
		answer = func() (contract.Reply, error) { return r, err }
		mu.Unlock()
	}
	i := startProbe(t, r, h, nil)
	src := newID()
	tests := []struct {
		name   string
		msg    string
		reply  contract.Reply
		err    error
		call   sent
		result []byte
	}{
		{"call reply", "Cping", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("pong\xff")}, nil,
			sent{Op: "call", Target: "out", Msg: []byte("ping")}, []byte("\x01pong\xff")},
		{"call empty reply", "Cping", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY}, nil,
			sent{Op: "call", Target: "out", Msg: []byte("ping")}, []byte("\x01")},
		{"call no reply", "Cping", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil,
			sent{Op: "call", Target: "out", Msg: []byte("ping")}, []byte("\x00")},
		{"call err", "Cping", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}, nil,
			sent{Op: "call", Target: "out", Msg: []byte("ping")}, []byte("\x02")},
		{"call host error", "Cping", contract.Reply{}, contract.ErrOverloaded,
			sent{Op: "call", Target: "out", Msg: []byte("ping")}, []byte("\x02")},
		{"call unknown alias answers err (upstream traps)", "xping", contract.Reply{}, contract.ErrUnknownAlias,
			sent{Op: "call", Target: "nosuch", Msg: []byte("ping")}, []byte("\x02")},
		{"call_raw reply", "Rraw", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("r")}, nil,
			sent{Op: "call_raw", Target: src.FunctionID, Dst: src, Msg: []byte("raw")}, []byte("\x01r")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set(tt.reply, tt.err)
			if err := i.Cast(t.Context(), src, []byte(tt.msg)); err != nil {
				t.Fatalf("Cast(%q): %v", tt.msg, err)
			}
			if d := cmp.Diff(tt.call, h.next(t)); d != "" {
				t.Errorf("call sent (-want +got):\n%s", d)
			}
			if d := cmp.Diff(sent{Op: "cast", Target: "result", Msg: tt.result}, h.next(t)); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
		})
	}
	// Many replies: guest memory stays bounded (the bump arena is cleared
	// per event and replies are allocated through edgeless_mem_alloc).
	set(contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: bytes.Repeat([]byte("x"), 10_000)}, nil)
	for range 200 {
		if err := i.Cast(t.Context(), src, []byte("Cping")); err != nil {
			t.Fatal(err)
		}
		h.next(t)
		h.next(t)
	}
	if pages := i.mod.Memory().Size() / 65536; pages > 2 {
		t.Errorf("memory = %d pages after 200 calls, want <= 2", pages)
	}
}

// An instance calls out, and the callee calls the same instance back
// (A -> B -> A): the nested call runs while the outer one waits.
func TestInstance_NestedCallIntoSameInstance(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	var self *Instance
	h.onCall = func(ctx context.Context, target string, msg []byte) (contract.Reply, error) {
		return self.Call(ctx, newID(), msg) // B answers by calling A
	}
	self = startProbe(t, r, h, nil)
	// The outer call asks "out" with "einner"; B calls A with it, A echoes.
	got, err := self.Call(t.Context(), newID(), []byte("Ceinner"))
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	want := contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("\x01inner")}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("A->B->A (-want +got):\n%s", d)
	}
	// Two levels: A -> B -> A -> B -> A.
	got, err = self.Call(t.Context(), newID(), []byte("CCedeep"))
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	want = contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("\x01\x01deep")}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("A->B->A->B->A (-want +got):\n%s", d)
	}
}

func TestInstance_ConcurrentEvents(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	i := startProbe(t, r, h, nil)
	const n = 200
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			msg := []byte("e" + strings.Repeat("y", k))
			got, err := i.Call(context.Background(), newID(), msg)
			if err != nil || !bytes.Equal(got.Msg, msg[1:]) {
				t.Errorf("Call(%d bytes) = %q, %v", len(msg), got.Msg, err)
			}
		})
		wg.Go(func() {
			if err := i.Cast(context.Background(), newID(), []byte("cz")); err != nil {
				t.Errorf("Cast: %v", err)
			}
		})
	}
	wg.Wait()
	for range n {
		if got := h.next(t); got.Op != "cast" || string(got.Msg) != "z" {
			t.Fatalf("got %+v, want cast z", got)
		}
	}
}

func TestInstance_StopWhileGuestWaitsInCall(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	h := newRecHost()
	entered := make(chan struct{})
	h.onCall = func(ctx context.Context, target string, msg []byte) (contract.Reply, error) {
		close(entered)
		<-ctx.Done() // a peer that never answers
		return contract.Reply{}, ctx.Err()
	}
	i := startProbe(t, r, h, nil)
	castErr := make(chan error, 1)
	go func() { castErr <- i.Cast(context.Background(), newID(), []byte("Cping")) }()
	<-entered
	h.next(t) // the call
	if err := i.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := <-castErr; err != nil {
		t.Errorf("the cast whose call was cut by Stop = %v, want nil (the guest got Err and finished)", err)
	}
	if d := cmp.Diff(sent{Op: "cast", Target: "result", Msg: []byte("\x02")}, h.next(t)); d != "" {
		t.Errorf("result (-want +got):\n%s", d)
	}
	if got := h.next(t); got.Target != "stop" {
		t.Errorf("after the result: %+v, want the stop log", got)
	}
}

func TestInstance_Trap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg, reason string
		call              bool
	}{
		{"unreachable in cast", "t", "unreachable", false},
		{"unreachable in call", "t", "unreachable", true},
		{"pointer outside memory", "B", "outside memory", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newTestRuntime(t, Config{})
			h := newRecHost()
			exits := make(chan contract.ExitInfo, 1)
			i := startProbe(t, r, h, func(s *contract.StartSpec) { s.OnExit = func(e contract.ExitInfo) { exits <- e } })
			var err error
			if tt.call {
				_, err = i.Call(t.Context(), newID(), []byte(tt.msg))
			} else {
				err = i.Cast(t.Context(), newID(), []byte(tt.msg))
			}
			if !isEnded(err) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("event = %v, want ErrInstanceEnded naming %q", err, tt.reason)
			}
			e := <-exits
			if e.ID != i.ID() || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("OnExit(%+v), want reason with %q", e, tt.reason)
			}
			info := i.Info()
			if info.State != contract.StateExited || info.Exit == nil {
				t.Errorf("Info() = %+v, want exited with exit info", info)
			}
			if err := i.Cast(t.Context(), newID(), []byte("cx")); !isEnded(err) {
				t.Errorf("Cast after trap = %v, want ErrInstanceEnded", err)
			}
			if _, ok := r.Instance(i.ID()); ok {
				t.Error("an ended instance is still registered")
			}
			if err := i.Stop(t.Context()); err != nil {
				t.Errorf("Stop after trap = %v, want nil", err)
			}
			h.none(t)
		})
	}
}

func TestInstance_EndlessLoopHitsDeadline(t *testing.T) {
	t.Parallel()
	for _, call := range []bool{false, true} {
		r := newTestRuntime(t, Config{CallTimeout: 300 * time.Millisecond})
		h := newRecHost()
		exits := make(chan contract.ExitInfo, 1)
		i := startProbe(t, r, h, func(s *contract.StartSpec) { s.OnExit = func(e contract.ExitInfo) { exits <- e } })
		var err error
		if call {
			_, err = i.Call(t.Context(), newID(), []byte("L"))
		} else {
			err = i.Cast(t.Context(), newID(), []byte("L"))
		}
		if !isEnded(err) || !strings.Contains(err.Error(), "deadline exceeded") {
			t.Fatalf("endless loop (call %v) = %v, want ErrInstanceEnded with deadline exceeded", call, err)
		}
		if e := <-exits; !strings.Contains(e.Reason, "deadline exceeded") {
			t.Errorf("OnExit reason = %q, want deadline exceeded", e.Reason)
		}
	}
}

func TestInstance_MemoryCap(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{MaxMemoryPages: 4})
	h := newRecHost()
	i := startProbe(t, r, h, nil)
	grow := func(pages byte) int32 {
		t.Helper()
		if err := i.Cast(t.Context(), newID(), []byte{'g', pages}); err != nil {
			t.Fatalf("grow %d: %v", pages, err)
		}
		return int32(binary.LittleEndian.Uint32(h.next(t).Msg))
	}
	if got := grow(2); got != 1 {
		t.Errorf("memory.grow(2) = %d, want 1 (the old size)", got)
	}
	if got := grow(2); got != -1 {
		t.Errorf("memory.grow(2) past the cap of 4 pages = %d, want -1", got)
	}
	if got := grow(1); got != 3 {
		t.Errorf("memory.grow(1) up to the cap = %d, want 3", got)
	}
	// The guest's allocator traps when it cannot grow: the instance ends.
	if _, err := i.Call(t.Context(), newID(), append([]byte("e"), make([]byte, 300_000)...)); !isEnded(err) {
		t.Errorf("call needing memory past the cap = %v, want ErrInstanceEnded", err)
	}
	// A module whose minimum exceeds the cap does not start.
	big := wat(t, strings.Replace(string(probeOnce.src), "(memory (export \"memory\") 1)", "(memory (export \"memory\") 5)", 1))
	_, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: big, Host: newRecHost()})
	if !errors.Is(err, ErrBadModule) || !strings.Contains(err.Error(), "over limit") {
		t.Errorf("Start of a module with 5 pages min and a 4-page cap = %v, want ErrBadModule saying over limit", err)
	}
}

func TestInstance_DelayedCastsBoundedAndCancelled(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{MaxDelayedCasts: 2})
	h := newRecHost()
	i := startProbe(t, r, h, nil)
	for range 3 {
		if err := i.Cast(t.Context(), newID(), []byte("Dlater")); err != nil {
			t.Fatal(err)
		}
	}
	i.mu.Lock()
	pending := i.delayedPending
	i.mu.Unlock()
	if pending != 2 {
		t.Errorf("delayed casts waiting = %d, want the bound 2", pending)
	}
	if err := i.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	pending = i.delayedPending
	i.mu.Unlock()
	if pending != 0 {
		t.Errorf("delayed casts waiting after Stop = %d, want 0", pending)
	}
	if got := h.next(t); got.Target != "stop" {
		t.Errorf("got %+v, want only the stop log", got)
	}
	h.none(t)
}
