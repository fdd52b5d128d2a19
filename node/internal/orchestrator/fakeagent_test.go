package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

// fakeAgent is a real gRPC server speaking FunctionInstance and
// NodeManagement (and the node admin instance list) on 127.0.0.1, standing
// in for a node so that the orchestrator's side of the protocol can be
// checked call by call, including faults a real node cannot be made to
// produce on demand.
type fakeAgent struct {
	t      *testing.T
	nodeID string
	nonce  uint64
	srv    *httptest.Server

	mu        sync.Mutex
	calls     []string
	starts    []*edgelessapi.SpawnFunctionRequest
	instances map[string]string // function id -> class id
	patches   map[string]map[string]*edgelessapi.InstanceId

	// resources are the resource providers the node announces.
	resources []*edgelessapi.ResourceProviderSpecification

	// Hooks; nil means success.
	onStart         func(req *edgelessapi.SpawnFunctionRequest) (*edgelessapi.StartComponentResponse, error)
	onStartResource func(req *edgelessapi.ResourceInstanceSpecification) *edgelessapi.StartComponentResponse
	onStop          func(fid string) error
	onReset         func(ctx context.Context) error
}

func newFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	a := &fakeAgent{
		t:         t,
		nodeID:    uuid.NewString(),
		nonce:     1,
		instances: map[string]string{},
		patches:   map[string]map[string]*edgelessapi.InstanceId{},
	}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewFunctionInstanceHandler(a))
	mux.Handle(edgelessapiconnect.NewNodeManagementHandler(a))
	mux.Handle(edgelessapiconnect.NewResourceConfigurationHandler(fakeResources{a}))
	mux.HandleFunc("GET /admin/v1/instances", a.adminInstances)
	mux.HandleFunc("POST /admin/v1/instances/{id}/cast", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.record("admin cast %s %s", a.class(r.PathValue("id")), body)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /admin/v1/instances/{id}/call", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(adminapi.CallResult{Type: "REPLY", Msg: a.class(r.PathValue("id")) + " got " + string(body)})
	})
	mux.HandleFunc("GET /admin/v1/instances/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(adminapi.Logs{Lines: []adminapi.LogLine{{Stream: "stdout", Text: "hello from " + a.class(r.PathValue("id"))}}})
	})
	a.srv = transporttest.NewServer(t, mux)
	return a
}

// fakeEventsReceived is what the fake node says every instance received.
const fakeEventsReceived = 7

// fakeEventsSent is what the fake node says every instance sent on its
// alias "output".
const fakeEventsSent = 5

func (a *fakeAgent) url() string { return a.srv.URL }

func (a *fakeAgent) record(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf(format, args...))
}

// takeCalls returns the calls recorded so far and forgets them.
func (a *fakeAgent) takeCalls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

// waitCalls waits until at least n calls are recorded, then takes them.
func (a *fakeAgent) waitCalls(n int) []string {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		got := len(a.calls)
		a.mu.Unlock()
		if got >= n {
			return a.takeCalls()
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("node %s: %d calls after 10s, want %d: %q", a.nodeID[:8], got, n, a.takeCalls())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (a *fakeAgent) Start(_ context.Context, req *edgelessapi.SpawnFunctionRequest) (*edgelessapi.StartComponentResponse, error) {
	a.record("Start %s", req.GetCode().GetId())
	a.mu.Lock()
	a.starts = append(a.starts, req)
	a.mu.Unlock()
	if a.onStart != nil {
		if resp, err := a.onStart(req); resp != nil || err != nil {
			return resp, err
		}
	}
	fid := uuid.NewString()
	a.mu.Lock()
	a.instances[fid] = req.GetCode().GetId()
	a.mu.Unlock()
	return &edgelessapi.StartComponentResponse{InstanceId: &edgelessapi.InstanceIdVariant{
		InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{
			InstanceId: &edgelessapi.InstanceId{NodeId: a.nodeID, FunctionId: fid},
		},
	}}, nil
}

// class returns the class of an instance this agent started.
func (a *fakeAgent) class(fid string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.instances[fid]
}

func (a *fakeAgent) Stop(_ context.Context, id *edgelessapi.InstanceIdVariant) (*emptypb.Empty, error) {
	fid := id.GetInstanceId().GetFunctionId()
	a.record("Stop %s", a.class(fid))
	if a.onStop != nil {
		if err := a.onStop(fid); err != nil {
			return nil, err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.instances[fid]; !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown instance %s", fid))
	}
	delete(a.instances, fid)
	return &emptypb.Empty{}, nil
}

func (a *fakeAgent) Patch(_ context.Context, req *edgelessapi.PatchRequest) (*emptypb.Empty, error) {
	var m []string
	for ch, id := range req.GetOutputMapping() {
		m = append(m, ch+"->"+a.class(id.GetFunctionId()))
	}
	slices.Sort(m)
	a.record("Patch %s %s", a.class(req.GetFunctionId()), strings.Join(m, ","))
	a.mu.Lock()
	a.patches[req.GetFunctionId()] = req.GetOutputMapping()
	a.mu.Unlock()
	return &emptypb.Empty{}, nil
}

func (a *fakeAgent) UpdatePeers(_ context.Context, req *edgelessapi.UpdatePeersRequest) (*emptypb.Empty, error) {
	a.record("UpdatePeers %s %s %s", req.GetRequestType(), short(req.GetNodeId()), req.GetInvocationUrl())
	return &emptypb.Empty{}, nil
}

func (a *fakeAgent) Reset(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	a.record("Reset")
	if a.onReset != nil {
		if err := a.onReset(ctx); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (a *fakeAgent) adminInstances(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []map[string]any{}
	for fid, class := range a.instances {
		out = append(out, map[string]any{
			"function_id": fid, "node_id": a.nodeID, "class_id": class, "state": "running",
			"started_at": time.Now().UTC().Format(time.RFC3339), "boot_ms": 12.5, "init_ms": 1.25,
			"events_received": fakeEventsReceived, "events_sent": map[string]uint64{"output": fakeEventsSent},
		})
	}
	_ = json.NewEncoder(w).Encode(out)
}

// invocationURL is the (fake) data-plane URL this node announces.
func (a *fakeAgent) invocationURL() string { return "http://127.0.0.1:1/" + short(a.nodeID) }

func (a *fakeAgent) update(deadline time.Time) *edgelessapi.UpdateNodeRequest {
	return &edgelessapi.UpdateNodeRequest{
		NodeId:            a.nodeID,
		AgentUrl:          a.url(),
		InvocationUrl:     a.invocationURL(),
		Capabilities:      &edgelessapi.NodeCapabilities{NumCpus: 1, NumCores: 2, Runtimes: []string{"CONTAINER"}, Labels: []string{"hostname=test"}},
		RefreshDeadline:   uint64(deadline.Unix()),
		Nonce:             a.nonce,
		ResourceProviders: a.resources,
		HealthStatus:      &edgelessapi.NodeHealthStatus{ProcCpuUsage: 3, ProcMemory: 20480, MemAvailable: 1 << 20, LoadAvg_1: 150},
	}
}

// fakeResources is the fake node's ResourceConfiguration: it records
// "StartResource <class>", "PatchResource <class> <mapping>" and
// "StopResource <class>".
type fakeResources struct{ a *fakeAgent }

func (r fakeResources) Start(_ context.Context, req *edgelessapi.ResourceInstanceSpecification) (*edgelessapi.StartComponentResponse, error) {
	a := r.a
	a.record("StartResource %s", req.GetResourceClassType())
	if a.onStartResource != nil {
		if resp := a.onStartResource(req); resp != nil {
			return resp, nil
		}
	}
	fid := uuid.NewString()
	a.mu.Lock()
	a.instances[fid] = req.GetResourceClassType()
	a.mu.Unlock()
	return &edgelessapi.StartComponentResponse{InstanceId: &edgelessapi.InstanceIdVariant{
		InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{InstanceId: &edgelessapi.InstanceId{NodeId: a.nodeID, FunctionId: fid}},
	}}, nil
}

func (r fakeResources) Stop(_ context.Context, id *edgelessapi.InstanceIdVariant) (*emptypb.Empty, error) {
	fid := id.GetInstanceId().GetFunctionId()
	r.a.record("StopResource %s", r.a.class(fid))
	r.a.mu.Lock()
	delete(r.a.instances, fid)
	r.a.mu.Unlock()
	return &emptypb.Empty{}, nil
}

func (r fakeResources) Patch(_ context.Context, req *edgelessapi.PatchRequest) (*emptypb.Empty, error) {
	var m []string
	for ch, id := range req.GetOutputMapping() {
		m = append(m, ch+"->"+r.a.class(id.GetFunctionId()))
	}
	slices.Sort(m)
	r.a.record("PatchResource %s %s", r.a.class(req.GetFunctionId()), strings.Join(m, ","))
	return &emptypb.Empty{}, nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// testOrc is an Orchestrator serving on 127.0.0.1 for one test.
type testOrc struct {
	*Orchestrator
	controllerURL string
	registerURL   string
	hc            *http.Client // h2c, for gRPC clients
}

func startOrc(t *testing.T, cfg Config) *testOrc {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	o := New(cfg)
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Serve(ctx, cl, rl) }()
	hc, _ := grpcClient()
	t.Cleanup(func() {
		// Idle h2c client connections would hold the graceful shutdown
		// for a second.
		hc.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testOrc{Orchestrator: o, controllerURL: "http://" + cl.Addr().String(), registerURL: "http://" + rl.Addr().String(), hc: hc}
}

// grpcClient returns an h2c HTTP client and the gRPC option, as a Rust peer
// would talk.
func grpcClient() (*http.Client, []connect.ClientOption) {
	return transporttest.Client(), []connect.ClientOption{connect.WithGRPC()}
}

func (o *testOrc) registration() edgelessapiconnect.NodeRegistrationClient {
	return edgelessapiconnect.NewNodeRegistrationClient(o.hc, o.registerURL, connect.WithGRPC())
}

func (o *testOrc) workflows() edgelessapiconnect.WorkflowInstanceClient {
	return edgelessapiconnect.NewWorkflowInstanceClient(o.hc, o.controllerURL, connect.WithGRPC())
}

// register registers a with the orchestrator and waits until it is ready.
func (o *testOrc) register(t *testing.T, a *fakeAgent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := o.registration().UpdateNode(ctx, a.update(time.Now().Add(time.Minute)))
	if err != nil {
		t.Fatalf("UpdateNode: %v", err)
	}
	if resp.ResponseError != nil {
		t.Fatalf("UpdateNode refused: %v", resp.ResponseError)
	}
	if err := o.WaitNodeReady(ctx, a.nodeID); err != nil {
		t.Fatal(err)
	}
}
