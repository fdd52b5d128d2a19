package container_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// sinkFunctionID is the function id of the test node's sink: an alias
// mapped to it delivers to the sink channel instead of an instance.
const sinkFunctionID = "00000000-0000-0000-0000-00000000510c"

// event is what reached the sink.
type event struct {
	src   contract.InstanceID
	alias string
	msg   []byte
	at    time.Time
}

// testNode is a runtime with its GuestAPIHost server, and a tiny in-process
// data plane: each instance's host routes aliases to other instances of
// the same runtime, or to the sink.
type testNode struct {
	t       testing.TB
	id      string
	rt      *container.Runtime
	hostURL string
	sink    chan event

	mu    sync.Mutex
	hosts map[contract.InstanceID]*testHost
}

type nodeOptions struct {
	docker bool
	cfg    func(*container.Config)
	nodeID string
}

// newTestNode starts a runtime and serves its GuestAPIHost: on the Docker
// bridge gateway when docker is set (containers must reach it), else on
// 127.0.0.1 with no Docker at all.
func newTestNode(t testing.TB, o nodeOptions) *testNode {
	t.Helper()
	nodeID := o.nodeID
	if nodeID == "" {
		nodeID = containertest.NewNodeID()
	}
	var ln net.Listener
	if o.docker {
		containertest.RequireDocker(t)
		containertest.CleanupNode(t, nodeID)
		ln = containertest.GatewayListener(t)
	} else {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg := container.Config{
		NodeID:          nodeID,
		GuestAPIHostURL: "http://" + ln.Addr().String(),
		BootTimeout:     time.Minute,
		CallTimeout:     20 * time.Second,
		StopTimeout:     time.Second,
		StopGrace:       time.Second,
		NoDocker:        !o.docker,
		Logger:          testLogger(t),
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := container.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n := &testNode{t: t, id: nodeID, rt: rt, hostURL: cfg.GuestAPIHostURL,
		sink: make(chan event, 1024), hosts: map[contract.InstanceID]*testHost{}}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- rt.Serve(sctx, ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if o.docker {
			// Close must leave nothing behind (CleanupNode, registered
			// earlier, only runs after this and would hide a leak).
			if ids, err := containertest.NodeContainers(ctx, containertest.RequireDocker(t), nodeID); err != nil || len(ids) != 0 {
				t.Errorf("after Close: containers of node %s = %v (%v), want none", nodeID, ids, err)
			}
		}
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return n
}

// testLogger logs to the test's output when -v is given, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() || os.Getenv("EDGELESS_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newID returns a fresh instance id on this node.
func (n *testNode) newID() contract.InstanceID {
	return contract.InstanceID{NodeID: n.id, FunctionID: uuid.NewString()}
}

// sinkID is the sink's instance id.
func (n *testNode) sinkID() contract.InstanceID {
	return contract.InstanceID{NodeID: n.id, FunctionID: sinkFunctionID}
}

// spec returns a StartSpec for code with a fresh id and a host whose
// "output" goes to the sink.
func (n *testNode) spec(code string) contract.StartSpec {
	id := n.newID()
	h := &testHost{node: n, id: id, aliases: map[string]contract.InstanceID{"output": n.sinkID()}}
	n.mu.Lock()
	n.hosts[id] = h
	n.mu.Unlock()
	return contract.StartSpec{ID: id, ClassID: "test-class", Code: code, Host: h,
		Annotations: map[string]string{}}
}

// host returns the test host of an instance.
func (n *testNode) host(id contract.InstanceID) *testHost {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hosts[id]
}

// start starts an instance and stops it at the end of the test.
func (n *testNode) start(t testing.TB, spec contract.StartSpec) contract.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inst, err := n.rt.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start(%s): %v", spec.Code, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := inst.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return inst
}

// link maps alias of from to the instance to.
func (n *testNode) link(from contract.InstanceID, alias string, to contract.InstanceID) {
	h := n.host(from)
	h.mu.Lock()
	h.aliases[alias] = to
	h.mu.Unlock()
}

// next waits for the next sink event.
func (n *testNode) next(t testing.TB) event {
	t.Helper()
	select {
	case ev := <-n.sink:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event reached the sink within 20s")
		return event{}
	}
}

// testHost is one instance's InstanceHost.
type testHost struct {
	node *testNode
	id   contract.InstanceID

	mu      sync.Mutex
	aliases map[string]contract.InstanceID
	state   []byte
	logs    []string
	// block, if set, makes Call wait for it to close.
	block chan struct{}
}

var _ contract.Host = (*testHost)(nil)

func (h *testHost) resolve(alias string) (contract.InstanceID, error) {
	if alias == "self" {
		return h.id, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	dst, ok := h.aliases[alias]
	if !ok {
		return contract.InstanceID{}, fmt.Errorf("alias %q: %w", alias, contract.ErrUnknownAlias)
	}
	return dst, nil
}

func (h *testHost) Cast(ctx context.Context, alias string, msg []byte) error {
	dst, err := h.resolve(alias)
	if err != nil {
		return err
	}
	return h.castTo(ctx, alias, dst, msg)
}

func (h *testHost) castTo(ctx context.Context, alias string, dst contract.InstanceID, msg []byte) error {
	if bytes.HasPrefix(msg, []byte("needs-utf8")) {
		return fmt.Errorf("peer protocol: %w", contract.ErrInvalidPayload)
	}
	if dst == h.node.sinkID() {
		h.node.sink <- event{src: h.id, alias: alias, msg: bytes.Clone(msg), at: time.Now()}
		return nil
	}
	inst, ok := h.node.rt.Instance(dst)
	if !ok {
		return fmt.Errorf("no instance %s", dst.FunctionID)
	}
	return inst.Cast(ctx, h.id, msg)
}

func (h *testHost) CastRaw(ctx context.Context, dst contract.InstanceID, msg []byte) error {
	return h.castTo(ctx, "", dst, msg)
}

func (h *testHost) Call(ctx context.Context, alias string, msg []byte) (contract.Reply, error) {
	h.mu.Lock()
	block := h.block
	h.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return contract.Reply{}, ctx.Err()
		}
	}
	dst, err := h.resolve(alias)
	if err != nil {
		return contract.Reply{}, err
	}
	return h.callTo(ctx, dst, msg)
}

func (h *testHost) callTo(ctx context.Context, dst contract.InstanceID, msg []byte) (contract.Reply, error) {
	if bytes.HasPrefix(msg, []byte("needs-utf8")) {
		return contract.Reply{}, fmt.Errorf("peer protocol: %w", contract.ErrInvalidPayload)
	}
	if dst == h.node.sinkID() {
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: append([]byte("sink:"), msg...)}, nil
	}
	inst, ok := h.node.rt.Instance(dst)
	if !ok {
		return contract.Reply{}, fmt.Errorf("no instance %s", dst.FunctionID)
	}
	return inst.Call(ctx, h.id, msg)
}

func (h *testHost) CallRaw(ctx context.Context, dst contract.InstanceID, msg []byte) (contract.Reply, error) {
	return h.callTo(ctx, dst, msg)
}

func (h *testHost) Sync(_ context.Context, state []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state = bytes.Clone(state)
	return nil
}

func (h *testHost) TelemetryLog(_ context.Context, level edgelessapi.TelemetryLogLevel, target, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, fmt.Sprintf("%s %s %s", level, target, msg))
}

func (h *testHost) syncedState() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// hostClients returns gRPC clients of a GuestAPIHost server (which speaks
// gRPC only, as every function template does): connect-go's, like the Go
// SDK's, and grpc-go's, like upstream's templates' (tonic, grpcio) in
// another implementation.
func hostClients(t testing.TB, url string) map[string]edgelessapiconnect.GuestAPIHostClient {
	h2c := transporttest.Client()
	return map[string]edgelessapiconnect.GuestAPIHostClient{
		"grpc":    edgelessapiconnect.NewGuestAPIHostClient(h2c, url, connect.WithGRPC()),
		"grpc-go": grpcGoHostClient(t, url),
	}
}

// grpcGoHostClient is a grpc-go client of a GuestAPIHost server at url,
// closed when the test ends, with connect's simple method signatures.
func grpcGoHostClient(t testing.TB, url string) edgelessapiconnect.GuestAPIHostClient {
	cc, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(url, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return grpcHost{edgelessapi.NewGuestAPIHostClient(cc)}
}

type grpcHost struct {
	c edgelessapi.GuestAPIHostClient
}

func (g grpcHost) Cast(ctx context.Context, r *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	return g.c.Cast(ctx, r)
}

func (g grpcHost) CastRaw(ctx context.Context, r *edgelessapi.OutputEventDataRaw) (*emptypb.Empty, error) {
	return g.c.CastRaw(ctx, r)
}

func (g grpcHost) Call(ctx context.Context, r *edgelessapi.OutputEventData) (*edgelessapi.CallReturn, error) {
	return g.c.Call(ctx, r)
}

func (g grpcHost) CallRaw(ctx context.Context, r *edgelessapi.OutputEventDataRaw) (*edgelessapi.CallReturn, error) {
	return g.c.CallRaw(ctx, r)
}

func (g grpcHost) TelemetryLog(ctx context.Context, r *edgelessapi.TelemetryLogEvent) (*emptypb.Empty, error) {
	return g.c.TelemetryLog(ctx, r)
}

func (g grpcHost) Slf(ctx context.Context, r *emptypb.Empty) (*edgelessapi.InstanceId, error) {
	return g.c.Slf(ctx, r)
}

func (g grpcHost) DelayedCast(ctx context.Context, r *edgelessapi.DelayedEventData) (*emptypb.Empty, error) {
	return g.c.DelayedCast(ctx, r)
}

func (g grpcHost) Sync(ctx context.Context, r *edgelessapi.SyncData) (*emptypb.Empty, error) {
	return g.c.Sync(ctx, r)
}

// wantCode fails unless err is a connect-go or grpc-go error with code.
func wantCode(t testing.TB, what string, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: err = nil, want %v", what, code)
	}
	got := connect.CodeOf(err)
	if st, ok := status.FromError(err); ok {
		got = connect.Code(st.Code())
	}
	if got != code {
		t.Fatalf("%s: code = %v (%v), want %v", what, got, err, code)
	}
}

// call is Instance.Call with a bounded context; it fails the test on error.
func call(t testing.TB, inst contract.Instance, src contract.InstanceID, msg string) contract.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := inst.Call(ctx, src, []byte(msg))
	if err != nil {
		t.Fatalf("Call(%q): %v", msg, err)
	}
	return r
}

// wantReply fails unless r is a REPLY with msg.
func wantReply(t testing.TB, what string, r contract.Reply, msg string) {
	t.Helper()
	if r.Type != edgelessapi.CallRetType_CALL_RET_REPLY || string(r.Msg) != msg {
		t.Fatalf("%s = %v %q, want CALL_RET_REPLY %q", what, r.Type, r.Msg, msg)
	}
}

// errorsAs is errors.As for tests.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
