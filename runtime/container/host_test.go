package container_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// grpcInstance starts a grpc: instance on a Docker-less node.
func grpcInstance(t *testing.T, n *testNode) (contract.Instance, *testFunction) {
	t.Helper()
	f := newTestFunction(t)
	spec := n.spec(f.code())
	spec.InitPayload = "k=v"
	spec.State = []byte("saved")
	return n.start(t, spec), f
}

func pid(id contract.InstanceID) *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: id.NodeID, FunctionId: id.FunctionID}
}

func TestGRPC_Lifecycle(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, f := grpcInstance(t, n)
	src := n.sinkID()

	if got := inst.Info().State; got != contract.StateRunning {
		t.Fatalf("Info().State = %q, want %q", got, contract.StateRunning)
	}
	wantReply(t, "Call(hello)", call(t, inst, src, "hello"), "hello")
	wantReply(t, "Call(payload)", call(t, inst, src, "payload"), "k=v")
	wantReply(t, "Call(state)", call(t, inst, src, "state"), "saved")
	if r := call(t, inst, src, "noreply"); r.Type != edgelessapi.CallRetType_CALL_RET_NO_REPLY {
		t.Fatalf("Call(noreply) = %v, want CALL_RET_NO_REPLY", r.Type)
	}
	if r := call(t, inst, src, "fail boom"); r.Type != edgelessapi.CallRetType_CALL_RET_ERR {
		t.Fatalf("Call(fail) = %v, want CALL_RET_ERR", r.Type)
	}

	if err := inst.Cast(t.Context(), src, []byte("to the sink")); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	ev := n.next(t)
	if string(ev.msg) != "to the sink" || ev.alias != "output" || ev.src != inst.ID() {
		t.Fatalf("sink got %q via %q from %v, want %q via output from %v", ev.msg, ev.alias, ev.src, "to the sink", inst.ID())
	}

	wantReply(t, "Call(sync)", call(t, inst, src, "sync new-state"), "ok")
	if got := n.host(inst.ID()).syncedState(); string(got) != "new-state" {
		t.Fatalf("synced state = %q, want %q", got, "new-state")
	}
	wantReply(t, "Call(log)", call(t, inst, src, "log tgt a line"), "ok")

	for range 2 { // idempotent
		if err := inst.Stop(t.Context()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	if booted, stopped := f.counts(); booted != 1 || stopped != 1 {
		t.Fatalf("function saw %d Boot and %d Stop, want 1 and 1", booted, stopped)
	}
	if got := inst.Info().State; got != contract.StateStopped {
		t.Fatalf("Info().State after Stop = %q, want %q", got, contract.StateStopped)
	}
	if _, err := inst.Call(t.Context(), src, []byte("x")); !errors.Is(err, contract.ErrInstanceStopped) {
		t.Fatalf("Call after Stop: err = %v, want ErrInstanceStopped", err)
	}
	if _, ok := n.rt.Instance(inst.ID()); ok {
		t.Fatal("stopped instance still in the registry")
	}
}

func TestHost_BadOriginator(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	grpcInstance(t, n)
	unknown := pid(n.newID())
	for name, c := range hostClients(t, n.hostURL) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			_, err := c.Cast(ctx, &edgelessapi.OutputEventData{Originator: unknown, Alias: "output", Msg: []byte("x")})
			wantCode(t, "Cast(unknown originator)", err, connect.CodeNotFound)
			if !strings.Contains(err.Error(), unknown.FunctionId) {
				t.Errorf("error %q does not name the originator %s", err, unknown.FunctionId)
			}
			_, err = c.Call(ctx, &edgelessapi.OutputEventData{Originator: unknown, Alias: "output"})
			wantCode(t, "Call(unknown originator)", err, connect.CodeNotFound)
			_, err = c.Sync(ctx, &edgelessapi.SyncData{Originator: unknown})
			wantCode(t, "Sync(unknown originator)", err, connect.CodeNotFound)
			_, err = c.Cast(ctx, &edgelessapi.OutputEventData{Alias: "output"})
			wantCode(t, "Cast(no originator)", err, connect.CodeInvalidArgument)
			_, err = c.Cast(ctx, &edgelessapi.OutputEventData{Originator: &edgelessapi.InstanceId{NodeId: "x", FunctionId: "y"}})
			wantCode(t, "Cast(bad uuid)", err, connect.CodeInvalidArgument)
		})
	}
}

func TestHost_DirectRequests(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	me := pid(inst.ID())
	// Any UUID spelling of the originator is the same instance.
	upper := &edgelessapi.InstanceId{NodeId: strings.ToUpper(me.NodeId), FunctionId: strings.ToUpper(me.FunctionId)}
	for name, c := range hostClients(t, n.hostURL) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := c.Cast(ctx, &edgelessapi.OutputEventData{Originator: upper, Alias: "output", Msg: []byte(name)}); err != nil {
				t.Fatalf("Cast: %v", err)
			}
			if ev := n.next(t); string(ev.msg) != name {
				t.Fatalf("sink got %q, want %q", ev.msg, name)
			}
			r, err := c.Call(ctx, &edgelessapi.OutputEventData{Originator: me, Alias: "output", Msg: []byte("q")})
			if err != nil || r.GetType() != edgelessapi.CallRetType_CALL_RET_REPLY || string(r.GetMsg()) != "sink:q" {
				t.Fatalf("Call = %v, %v, want REPLY sink:q", r, err)
			}
			r, err = c.CallRaw(ctx, &edgelessapi.OutputEventDataRaw{Originator: me, Dst: pid(n.sinkID()), Msg: []byte("r")})
			if err != nil || string(r.GetMsg()) != "sink:r" {
				t.Fatalf("CallRaw = %v, %v, want REPLY sink:r", r, err)
			}
			_, err = c.CastRaw(ctx, &edgelessapi.OutputEventDataRaw{Originator: me, Msg: []byte("r")})
			wantCode(t, "CastRaw(no dst)", err, connect.CodeInvalidArgument)
			_, err = c.TelemetryLog(ctx, &edgelessapi.TelemetryLogEvent{Originator: me, LogLevel: 42})
			wantCode(t, "TelemetryLog(level 42)", err, connect.CodeInvalidArgument)
			if _, err := c.TelemetryLog(ctx, &edgelessapi.TelemetryLogEvent{Originator: me,
				LogLevel: edgelessapi.TelemetryLogLevel_LOG_WARN, Target: "t", Msg: "m"}); err != nil {
				t.Fatalf("TelemetryLog: %v", err)
			}
			// One grpc: instance on this host: Slf knows who asks.
			id, err := c.Slf(ctx, &emptypb.Empty{})
			if err != nil || id.GetFunctionId() != me.FunctionId || id.GetNodeId() != me.NodeId {
				t.Fatalf("Slf = %v, %v, want %v", id, err, me)
			}
		})
	}
}

func TestHost_UnmappedAlias(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	src := n.sinkID()
	// A cast to an unmapped alias is accepted, dropped and counted.
	wantReply(t, "Call(recast nowhere)", call(t, inst, src, "recast nowhere hi"), "ok")
	if got := inst.Info().DroppedCasts; got != 1 {
		t.Fatalf("DroppedCasts = %d, want 1", got)
	}
	if got := n.rt.DroppedCasts(); got != 1 {
		t.Fatalf("Runtime.DroppedCasts = %d, want 1", got)
	}
	// A call to one answers CALL_RET_ERR.
	if r := call(t, inst, src, "recall nowhere hi"); r.Type != edgelessapi.CallRetType_CALL_RET_ERR {
		t.Fatalf("Call(recall nowhere) = %v %q, want CALL_RET_ERR", r.Type, r.Msg)
	}
}

func TestHost_NonUTF8Payloads(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	src := n.sinkID()
	bin := []byte{0xff, 0xfe, 0x00, 'x', 0xc3, 0x28}
	r, err := inst.Call(t.Context(), src, bin)
	if err != nil || !bytes.Equal(r.Msg, bin) {
		t.Fatalf("Call(% x) = % x, %v; want the same bytes", bin, r.Msg, err)
	}
	if err := inst.Cast(t.Context(), src, bin); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	if ev := n.next(t); !bytes.Equal(ev.msg, bin) {
		t.Fatalf("sink got % x, want % x", ev.msg, bin)
	}
	r, err = inst.Call(t.Context(), src, append([]byte("recall output "), bin...))
	if err != nil || !bytes.Equal(r.Msg, append([]byte("sink:"), bin...)) {
		t.Fatalf("recall = % x, %v; want sink: + the bytes", r.Msg, err)
	}
	// A destination that needs UTF-8 makes the host answer INVALID_ARGUMENT.
	c := hostClients(t, n.hostURL)["grpc"]
	_, err = c.Cast(t.Context(), &edgelessapi.OutputEventData{Originator: pid(inst.ID()), Alias: "output",
		Msg: append([]byte("needs-utf8"), bin...)})
	wantCode(t, "Cast to a UTF-8-only peer", err, connect.CodeInvalidArgument)
	_, err = c.Call(t.Context(), &edgelessapi.OutputEventData{Originator: pid(inst.ID()), Alias: "output",
		Msg: append([]byte("needs-utf8"), bin...)})
	wantCode(t, "Call to a UTF-8-only peer", err, connect.CodeInvalidArgument)
}

func TestHost_LargeMessages(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16) // 6 MiB, above gRPC-Go's 4 MiB default
	r, err := inst.Call(t.Context(), n.sinkID(), big)
	if err != nil || !bytes.Equal(r.Msg, big) {
		t.Fatalf("Call(6 MiB) = %d bytes, %v; want the payload back", len(r.Msg), err)
	}
	if err := inst.Cast(t.Context(), n.sinkID(), big); err != nil {
		t.Fatalf("Cast(6 MiB): %v", err)
	}
	if ev := n.next(t); !bytes.Equal(ev.msg, big) {
		t.Fatalf("sink got %d bytes, want %d", len(ev.msg), len(big))
	}
}

func TestHost_NestedCalls(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	a, _ := grpcInstance(t, n)
	b, _ := grpcInstance(t, n)
	c, _ := grpcInstance(t, n)
	n.link(a.ID(), "b", b.ID())
	n.link(b.ID(), "a", a.ID())
	n.link(b.ID(), "c", c.ID())
	// A -> B -> A: A's call is pending while B calls back into A.
	wantReply(t, "A->B->A", call(t, a, n.sinkID(), "recall b recall a hello"), "hello")
	// A -> B -> C.
	wantReply(t, "A->B->C", call(t, a, n.sinkID(), "recall b recall c world"), "world")
	// A -> B -> A -> B, in parallel many times.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r, err := a.Call(t.Context(), n.sinkID(), []byte("recall b recall a recall b deep"))
			if err != nil || string(r.Msg) != "deep" {
				t.Errorf("A->B->A->B = %q, %v; want deep", r.Msg, err)
			}
		})
	}
	wg.Wait()
}

func TestHost_NoGlobalLock(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	a, _ := grpcInstance(t, n)
	b, _ := grpcInstance(t, n)
	release := make(chan struct{})
	ha := n.host(a.ID())
	ha.mu.Lock()
	ha.block = release
	ha.mu.Unlock()

	aDone := make(chan error, 1)
	go func() {
		_, err := a.Call(context.Background(), n.sinkID(), []byte("recall output blocked"))
		aDone <- err
	}()
	// While A's host call is blocked, B's requests go through.
	for range 5 {
		wantReply(t, "B recall", call(t, b, n.sinkID(), "recall output free"), "sink:free")
		wantReply(t, "B sync", call(t, b, n.sinkID(), "sync s"), "ok")
	}
	select {
	case err := <-aDone:
		t.Fatalf("A's call returned (%v) before its host call was released", err)
	default:
	}
	close(release)
	if err := <-aDone; err != nil {
		t.Fatalf("A's call: %v", err)
	}
}

func TestHost_DelayedCast(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	me := pid(inst.ID())
	c := hostClients(t, n.hostURL)["grpc"]
	ctx := t.Context()

	// No metadata at all (the Python template sends none): accepted.
	sent := time.Now()
	if _, err := c.DelayedCast(ctx, &edgelessapi.DelayedEventData{Originator: me, Alias: "output", Msg: []byte("later"), Delay: 150}); err != nil {
		t.Fatalf("DelayedCast(no metadata): %v", err)
	}
	ev := n.next(t)
	if string(ev.msg) != "later" {
		t.Fatalf("sink got %q, want later", ev.msg)
	}
	if waited := ev.at.Sub(sent); waited < 150*time.Millisecond {
		t.Fatalf("delayed cast arrived after %v, before its 150ms delay", waited)
	}
	// Upstream's metadata (16-byte trace id, 8-byte span id): accepted.
	md := &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, 16), SpanId: make([]byte, 8)}
	if _, err := c.DelayedCast(ctx, &edgelessapi.DelayedEventData{Originator: me, Alias: "output", Msg: []byte("md"), Metadata: md}); err != nil {
		t.Fatalf("DelayedCast(metadata): %v", err)
	}
	if ev := n.next(t); string(ev.msg) != "md" {
		t.Fatalf("sink got %q, want md", ev.msg)
	}
	bad := &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, 3), SpanId: make([]byte, 8)}
	_, err := c.DelayedCast(ctx, &edgelessapi.DelayedEventData{Originator: me, Alias: "output", Metadata: bad})
	wantCode(t, "DelayedCast(3-byte trace id)", err, connect.CodeInvalidArgument)
	// The function's own delayed command.
	wantReply(t, "Call(delayed)", call(t, inst, n.sinkID(), "delayed 10 output via-fn"), "ok")
	if ev := n.next(t); string(ev.msg) != "via-fn" {
		t.Fatalf("sink got %q, want via-fn", ev.msg)
	}
}

func TestHost_DelayedCastBounded(t *testing.T) {
	t.Parallel()
	const limit = 20
	n := newTestNode(t, nodeOptions{cfg: func(c *container.Config) { c.MaxDelayedCasts = limit }})
	inst, _ := grpcInstance(t, n)
	me := pid(inst.ID())
	c := hostClients(t, n.hostURL)["grpc-go"]
	req := &edgelessapi.DelayedEventData{Originator: me, Alias: "output", Msg: []byte("x"), Delay: 3_600_000}
	for i := range limit {
		if _, err := c.DelayedCast(t.Context(), req); err != nil {
			t.Fatalf("DelayedCast %d of %d: %v", i+1, limit, err)
		}
	}
	_, err := c.DelayedCast(t.Context(), req)
	wantCode(t, "DelayedCast beyond the bound", err, connect.CodeResourceExhausted)
	// Stop drops them all (teardown waits for their goroutines).
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestHost_DelayedCastBytesBounded(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	n := newTestNode(t, nodeOptions{cfg: func(c *container.Config) { c.MaxDelayedCastBytes = limit }})
	inst, _ := grpcInstance(t, n)
	c := hostClients(t, n.hostURL)["grpc-go"]
	req := &edgelessapi.DelayedEventData{Originator: pid(inst.ID()), Alias: "output", Msg: make([]byte, 20<<10), Delay: 3_600_000}
	for i := range 3 {
		if _, err := c.DelayedCast(t.Context(), req); err != nil {
			t.Fatalf("DelayedCast %d (60 KiB of 64): %v", i+1, err)
		}
	}
	_, err := c.DelayedCast(t.Context(), req)
	wantCode(t, "DelayedCast beyond the byte bound", err, connect.CodeResourceExhausted)
	if err == nil || !strings.Contains(err.Error(), "bytes waiting") {
		t.Errorf("DelayedCast beyond the byte bound = %v, want the bytes named", err)
	}
	req.Msg = []byte("small")
	if _, err := c.DelayedCast(t.Context(), req); err != nil {
		t.Errorf("small DelayedCast within the bound = %v", err)
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestHost_DelayedCastDroppedOnStop(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	wantReply(t, "Call(delayed)", call(t, inst, n.sinkID(), "delayed 1000 output too-late"), "ok")
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case ev := <-n.sink:
		t.Fatalf("sink got %q although the instance stopped before its delay", ev.msg)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestGRPC_StopDuringCall(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	done := make(chan error, 1)
	go func() {
		_, err := inst.Call(context.Background(), n.sinkID(), []byte("sleep 60000"))
		done <- err
	}()
	// Let the call reach the function.
	time.Sleep(50 * time.Millisecond)
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, contract.ErrInstanceStopped) {
			t.Fatalf("pending Call: err = %v, want ErrInstanceStopped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending Call still blocked after Stop returned")
	}
}

func TestGRPC_BootRejected(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	f := newTestFunction(t)
	f.rejectBy = connect.NewError(connect.CodeFailedPrecondition, errors.New("not today"))
	_, err := n.rt.Start(t.Context(), n.spec(f.code()))
	if _, ok := errorsAs[*container.BootError](err); !ok || !strings.Contains(err.Error(), "not today") {
		t.Fatalf("Start = %v, want a BootError with the function's reason", err)
	}
	if booted, _ := f.counts(); booted != 0 {
		t.Fatalf("function booted %d times", booted)
	}
	if len(n.rt.Instances()) != 0 {
		t.Fatal("failed instance left in the registry")
	}
}

func TestGRPC_BootDeadline(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{cfg: func(c *container.Config) { c.BootTimeout = 300 * time.Millisecond }})
	// Nothing listens on port 1.
	spec := n.spec("grpc:http://127.0.0.1:1")
	_, err := n.rt.Start(t.Context(), spec)
	if _, ok := errorsAs[*container.BootError](err); !ok || !strings.Contains(err.Error(), "not booted within") {
		t.Fatalf("Start = %v, want a BootError for the deadline", err)
	}
}

func TestStart_BadSpec(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	tests := []struct {
		name    string
		code    string
		ann     map[string]string
		want    error
		mention string
	}{
		{"no colon", "function", nil, container.ErrBadCode, `"function"`},
		{"unknown kind", "wasm:foo", nil, container.ErrBadCode, `"wasm:foo"`},
		{"empty image", "container:", nil, container.ErrBadCode, `"container:"`},
		{"grpc without scheme", "grpc:127.0.0.1:80", nil, container.ErrBadCode, `"grpc:127.0.0.1:80"`},
		{"container without docker", "container:img:1", nil, nil, "needs Docker"},
		{"bad memory", "grpc:http://127.0.0.1:1", map[string]string{container.AnnotationMemory: "lots"}, container.ErrBadAnnotation, "container.memory"},
		{"bad cpus", "grpc:http://127.0.0.1:1", map[string]string{container.AnnotationCPUs: "-1"}, container.ErrBadAnnotation, "container.cpus"},
		{"bad pids", "grpc:http://127.0.0.1:1", map[string]string{container.AnnotationPids: "0"}, container.ErrBadAnnotation, "container.pids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := n.spec(tt.code)
			spec.Annotations = tt.ann
			_, err := n.rt.Start(t.Context(), spec)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("Start(%q) = %v, want %v mentioning %s", tt.code, err, tt.want, tt.mention)
			}
		})
	}
	spec := n.spec("grpc:http://127.0.0.1:1")
	spec.ID.NodeID = "not-a-uuid"
	if _, err := n.rt.Start(t.Context(), spec); err == nil {
		t.Fatal("Start with a bad node id succeeded")
	}
}

func TestRuntime_DuplicateAndClose(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	f := newTestFunction(t)
	spec := n.spec(f.code())
	inst, err := n.rt.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.rt.Start(t.Context(), spec); !errors.Is(err, contract.ErrDuplicateInstance) {
		t.Fatalf("second Start with the same id = %v, want ErrDuplicateInstance", err)
	}
	if err := n.rt.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := inst.Info().State; got != contract.StateStopped {
		t.Fatalf("state after Close = %q, want stopped", got)
	}
	if _, stopped := f.counts(); stopped != 1 {
		t.Fatalf("function saw %d Stop, want 1", stopped)
	}
	if _, err := n.rt.Start(t.Context(), n.spec(f.code())); !errors.Is(err, contract.ErrRuntimeClosed) {
		t.Fatalf("Start after Close = %v, want ErrRuntimeClosed", err)
	}
}

func TestHost_InvalidUTF8InStringField(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	inst, _ := grpcInstance(t, n)
	// TelemetryLogEvent.target (field 3) is a string; OutputEventData.msg
	// (also field 3) is bytes: sending the latter to TelemetryLog puts
	// invalid UTF-8 where the server expects a string.
	hc := transporttest.Client()
	c := connect.NewClient[edgelessapi.OutputEventData, emptypb.Empty](hc,
		n.hostURL+edgelessapiconnect.GuestAPIHostTelemetryLogProcedure, connect.WithGRPC())
	_, err := c.CallUnary(t.Context(), connect.NewRequest(&edgelessapi.OutputEventData{
		Originator: pid(inst.ID()), Msg: []byte{0xff, 0xfe}}))
	// grpc-go answers a request that does not decode INTERNAL, as tonic
	// (upstream's node) does; connect-go answered INVALID_ARGUMENT.
	wantCode(t, "TelemetryLog(target not UTF-8)", err, connect.CodeInternal)
	if !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("TelemetryLog(target not UTF-8) = %v, want the reason named", err)
	}
	// The server is still fine.
	wantReply(t, "Call after", call(t, inst, n.sinkID(), "hi"), "hi")
}

func TestHost_SlfAmbiguousOnHost(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	a, _ := grpcInstance(t, n)
	grpcInstance(t, n)
	// Two grpc: instances on this host: Slf cannot tell which one asks, and
	// says so rather than guess.
	if r := call(t, a, n.sinkID(), "self"); r.Type != edgelessapi.CallRetType_CALL_RET_ERR ||
		!strings.Contains(string(r.Msg), "failed_precondition") {
		t.Fatalf("Call(self) = %v %q, want CALL_RET_ERR with failed_precondition", r.Type, r.Msg)
	}
}

// TestRuntime_SecretOnEveryCall checks that the node sends each instance's
// own secret on every request into its function, from Boot to Stop.
func TestRuntime_SecretOnEveryCall(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	var secrets []string
	for range 2 {
		f := newTestFunction(t)
		inst := n.start(t, n.spec(f.code()))
		wantReply(t, "Call(hello)", call(t, inst, n.sinkID(), "hello"), "hello")
		if err := inst.Cast(t.Context(), n.sinkID(), []byte("noreply")); err != nil {
			t.Fatalf("Cast: %v", err)
		}
		if err := inst.Stop(t.Context()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		seen := f.secretsSeen()
		first := seen["Boot"]
		if len(first) == 0 || len(first[0]) < 16 {
			t.Fatalf("Boot secrets = %q, want a secret of at least 16 characters", first)
		}
		for _, proc := range []string{"Boot", "Init", "Call", "Cast", "Stop"} {
			if len(seen[proc]) == 0 {
				t.Errorf("no %s request seen", proc)
			}
			for _, s := range seen[proc] {
				if s != first[0] {
					t.Errorf("%s secret = %q, want %q (the one sent at Boot)", proc, s, first[0])
				}
			}
		}
		secrets = append(secrets, first[0])
	}
	if secrets[0] == secrets[1] {
		t.Errorf("two instances got the same secret %q", secrets[0])
	}
}

// TestRuntime_StoppedBehindTheNodesBack has someone other than the node
// stop a function (one that, like upstream's templates, needs no secret):
// the node notices at the next event and ends the instance as if it had
// exited, instead of listing it as running while every event fails.
func TestRuntime_StoppedBehindTheNodesBack(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{})
	f := newTestFunction(t)
	exits := make(chan contract.ExitInfo, 2)
	spec := n.spec(f.code())
	spec.OnExit = func(e contract.ExitInfo) { exits <- e }
	inst := n.start(t, spec)
	intruder := edgelessapiconnect.NewGuestAPIFunctionClient(http.DefaultClient, f.url)
	if _, err := intruder.Stop(t.Context(), &emptypb.Empty{}); err != nil {
		t.Fatalf("Stop from elsewhere: %v", err)
	}
	if _, err := inst.Call(t.Context(), n.sinkID(), []byte("hello")); err == nil {
		t.Fatal("Call after a Stop from elsewhere = nil error, want one")
	}
	select {
	case e := <-exits:
		if e.Reason != container.ReasonNotRunning {
			t.Errorf("OnExit reason = %q, want %q", e.Reason, container.ReasonNotRunning)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("OnExit not called after the function was stopped from elsewhere")
	}
	if st := inst.Info().State; st != contract.StateExited {
		t.Errorf("State = %s, want %s", st, contract.StateExited)
	}
	var ee *container.ExitError
	if err := inst.Cast(t.Context(), n.sinkID(), []byte("x")); !errors.As(err, &ee) {
		t.Errorf("Cast after the end = %v, want an ExitError", err)
	}
	if len(exits) != 0 {
		t.Errorf("OnExit called again: %v", <-exits)
	}
}
