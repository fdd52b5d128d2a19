package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/state"
	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

// h2cServer serves h on 127.0.0.1 with HTTP/1 and plaintext HTTP/2.
func h2cServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	return transporttest.NewServer(t, h)
}

// grpcClient is an h2c client as the orchestrator uses.
func grpcClient() *http.Client {
	return transporttest.Client()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testNode is an agent served over real sockets, with a container runtime
// that runs grpc: functions (no Docker) and serves GuestAPIHost on
// 127.0.0.1.
type testNode struct {
	nodeID  string
	agent   *Agent
	dp      *dataplane.Dataplane
	states  *state.Store
	metrics *telemetry.Metrics
	url     string
	logs    *syncBuffer

	fi    edgelessapiconnect.FunctionInstanceClient
	nm    edgelessapiconnect.NodeManagementClient
	rc    edgelessapiconnect.ResourceConfigurationClient
	fiCon edgelessapiconnect.FunctionInstanceClient // Connect protocol
}

// newTestNode starts an agent; withRuntime gives it a container runtime, and
// extra are further runtimes it gets.
func newTestNode(t *testing.T, withRuntime bool, extra ...contract.Runtime) *testNode {
	t.Helper()
	n := &testNode{nodeID: uuid.NewString(), logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if n.states, err = state.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	n.metrics = telemetry.NewMetrics()
	n.dp = dataplane.New(dataplane.Config{NodeID: n.nodeID, CallTimeout: 10 * time.Second, Logger: log})
	t.Cleanup(n.dp.Close)
	var runtimes []contract.Runtime
	if withRuntime {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rt, err := container.New(t.Context(), container.Config{
			NodeID: n.nodeID, GuestAPIHostURL: "http://" + ln.Addr().String(), NoDocker: true,
			BootTimeout: 2 * time.Second, InitTimeout: 5 * time.Second, Logger: log,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); rt.Serve(ctx, ln) }()
		t.Cleanup(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer ccancel()
			rt.Close(cctx)
			cancel()
			<-done
		})
		runtimes = append(runtimes, rt)
	}
	runtimes = append(runtimes, extra...)
	n.agent, err = New(Config{NodeID: n.nodeID, Runtimes: runtimes, Dataplane: n.dp, States: n.states,
		Recorder: telemetry.NewRecorder(n.metrics, nil, log), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n.agent.Close(ctx)
	})
	n.url = h2cServer(t, n.agent.Handler()).URL
	hc := grpcClient()
	n.fi = edgelessapiconnect.NewFunctionInstanceClient(hc, n.url, connect.WithGRPC())
	n.nm = edgelessapiconnect.NewNodeManagementClient(hc, n.url, connect.WithGRPC())
	n.rc = edgelessapiconnect.NewResourceConfigurationClient(hc, n.url, connect.WithGRPC())
	n.fiCon = edgelessapiconnect.NewFunctionInstanceClient(http.DefaultClient, n.url)
	return n
}

func spawnRequest(code string, stateID string, annotations map[string]string) *edgelessapi.SpawnFunctionRequest {
	return &edgelessapi.SpawnFunctionRequest{
		Code:               &edgelessapi.FunctionClassSpecification{Id: "test-class", FunctionType: "CONTAINER", Version: "0.1", Code: code},
		Annotations:        annotations,
		StateSpecification: &edgelessapi.StateSpecification{StateId: stateID, Policy: edgelessapi.StatePolicy_NODE_LOCAL},
		WorkflowId:         "wf-1",
	}
}

// start starts an instance of fn and returns its id.
func (n *testNode) start(t *testing.T, fn *testFunction, stateID string) contract.InstanceID {
	t.Helper()
	res, err := n.fi.Start(t.Context(), spawnRequest("grpc:"+fn.url, stateID, map[string]string{"init-payload": "p=1"}))
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	if e := res.GetResponseError(); e != nil {
		t.Fatalf("Start() = ResponseError %q: %q", e.GetSummary(), e.GetDetail())
	}
	id := res.GetInstanceId().GetInstanceId()
	if id.GetNodeId() != n.nodeID {
		t.Fatalf("Start() node_id = %q, want this node %q", id.GetNodeId(), n.nodeID)
	}
	return contract.InstanceID{NodeID: id.GetNodeId(), FunctionID: id.GetFunctionId()}
}

func (n *testNode) stop(t *testing.T, id contract.InstanceID) {
	t.Helper()
	if _, err := n.fi.Stop(t.Context(), variant(id)); err != nil {
		t.Fatalf("Stop(%s) = %v", id.FunctionID, err)
	}
}

// call sends msg to id through the data plane, as another instance would.
func (n *testNode) call(t *testing.T, id contract.InstanceID, msg string) string {
	t.Helper()
	rep, err := n.dp.Call(t.Context(), contract.InstanceID{NodeID: n.nodeID, FunctionID: uuid.NewString()}, id, []byte(msg))
	if err != nil {
		t.Fatalf("Call(%q) = %v", msg, err)
	}
	if rep.Type != edgelessapi.CallRetType_CALL_RET_REPLY {
		t.Fatalf("Call(%q) = %v, want a reply", msg, rep.Type)
	}
	return string(rep.Msg)
}

// testFunction is a GuestAPIFunction server for grpc: instances (code
// "grpc:<url>", which upstream supports besides containers). It speaks a
// subset of the example function's command language:
//
//	recall ALIAS MSG  host Call; reply with the callee's reply
//	sync STATE        host Sync; reply "ok"
//	state             reply with the state from Init or the last sync
//	log TARGET MSG    host TelemetryLog; reply "ok"
//	init              reply with the init payload
//	bytes             reply with non-UTF-8 bytes
//	anything else     echo
//
// Boot blocks while blockBoot is open.
type testFunction struct {
	url       string
	blockBoot chan struct{}

	mu      sync.Mutex
	self    *edgelessapi.InstanceId
	host    edgelessapiconnect.GuestAPIHostClient
	init    string
	state   []byte
	cast    chan string
	stopped int // Stop commands received
}

func newTestFunction(t *testing.T) *testFunction {
	t.Helper()
	f := &testFunction{cast: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewGuestAPIFunctionHandler(f))
	f.url = h2cServer(t, mux).URL
	return f
}

func (f *testFunction) Boot(ctx context.Context, b *edgelessapi.BootData) (*emptypb.Empty, error) {
	if f.blockBoot != nil {
		select {
		case <-f.blockBoot:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.self = b.GetInstanceId()
	f.host = edgelessapiconnect.NewGuestAPIHostClient(grpcClient(), b.GetGuestApiHostEndpoint(), connect.WithGRPC())
	return &emptypb.Empty{}, nil
}

func (f *testFunction) Init(_ context.Context, in *edgelessapi.FunctionInstanceInit) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init, f.state = in.GetInitPayload(), in.GetSerializedState()
	return &emptypb.Empty{}, nil
}

func (f *testFunction) Cast(_ context.Context, in *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	f.cast <- string(in.GetMsg())
	return &emptypb.Empty{}, nil
}

func (f *testFunction) Call(ctx context.Context, in *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	f.mu.Lock()
	self, host := f.self, f.host
	f.mu.Unlock()
	msg := string(in.GetMsg())
	cmd, rest, _ := strings.Cut(msg, " ")
	reply := func(s string) (*edgelessapi.CallReturn, error) {
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte(s)}, nil
	}
	switch cmd {
	case "recall":
		alias, m, _ := strings.Cut(rest, " ")
		return host.Call(ctx, &edgelessapi.OutputEventData{Originator: self, Alias: alias, Msg: []byte(m)})
	case "sync":
		if _, err := host.Sync(ctx, &edgelessapi.SyncData{Originator: self, SerializedState: []byte(rest)}); err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.state = []byte(rest)
		f.mu.Unlock()
		return reply("ok")
	case "state":
		f.mu.Lock()
		defer f.mu.Unlock()
		return reply(string(f.state))
	case "init":
		f.mu.Lock()
		defer f.mu.Unlock()
		return reply(f.init)
	case "log":
		target, m, _ := strings.Cut(rest, " ")
		if _, err := host.TelemetryLog(ctx, &edgelessapi.TelemetryLogEvent{Originator: self, LogLevel: edgelessapi.TelemetryLogLevel_LOG_INFO, Target: target, Msg: m}); err != nil {
			return nil, err
		}
		return reply("ok")
	case "bytes":
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte{0xff, 0xfe}}, nil
	case "fail":
		return nil, errors.New("fail requested")
	}
	return reply(msg)
}

func (f *testFunction) Stop(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped++
	return &emptypb.Empty{}, nil
}

// stops returns how many Stop commands the function received.
func (f *testFunction) stops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped
}
