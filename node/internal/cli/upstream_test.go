package cli

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
	"google.golang.org/protobuf/types/known/emptypb"
)

// upstreamController stands in for upstream's ε-CON: WorkflowInstance over
// h2c gRPC only, no admin API. It answers Start with a fixed mapping and
// records the request it got.
type upstreamController struct {
	edgelessapiconnect.UnimplementedWorkflowInstanceHandler
	mu  sync.Mutex
	got *edgelessapi.SpawnWorkflowRequest
}

func (u *upstreamController) Start(_ context.Context, req *edgelessapi.SpawnWorkflowRequest) (*edgelessapi.SpawnWorkflowResponse, error) {
	u.mu.Lock()
	u.got = req
	u.mu.Unlock()
	return &edgelessapi.SpawnWorkflowResponse{WorkflowStatus: &edgelessapi.WorkflowInstanceStatus{
		WorkflowId: &edgelessapi.WorkflowId{WorkflowId: "wf-1"},
		DomainMapping: []*edgelessapi.WorkflowFunctionMapping{
			{Name: "sink", FunctionId: "f-1", DomainId: "domain-7"},
		},
	}}, nil
}

func (u *upstreamController) List(context.Context, *emptypb.Empty) (*edgelessapi.WorkflowIdList, error) {
	return &edgelessapi.WorkflowIdList{Identifiers: []string{"wf-1"}}, nil
}

func (u *upstreamController) Inspect(_ context.Context, id *edgelessapi.WorkflowId) (*edgelessapi.WorkflowInstanceInfo, error) {
	return &edgelessapi.WorkflowInstanceInfo{Status: &edgelessapi.WorkflowInstanceStatus{
		WorkflowId:    id,
		DomainMapping: []*edgelessapi.WorkflowFunctionMapping{{Name: "sink", FunctionId: "f-1", DomainId: "domain-7"}},
	}}, nil
}

// Against a controller without our admin API (upstream's), start, list and
// inspect still work through WorkflowInstance alone.
func TestCLI_UpstreamController(t *testing.T) {
	t.Parallel()
	u := &upstreamController{}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewWorkflowInstanceHandler(u))
	srv := transporttest.NewH2COnlyServer(t, mux)

	path := writeFile(t, "w.json", `{"functions": [{"name": "sink", "class_specification": {"id": "sink",
	  "function_type": "CONTAINER", "version": "0.1", "code": "container:edgeless-example-sink:dev", "outputs": []},
	  "output_mapping": {}, "annotations": {"init-payload": "x=1"}}], "resources": [], "annotations": {}}`)
	out := mustCLI(t, srv.URL, "workflow", "start", path)
	for _, want := range []string{"used WorkflowInstance.Start", "sink           instance f-1 in domain domain-7", "Workflow wf-1 started"} {
		if !strings.Contains(out, want) {
			t.Errorf("start output lacks %q", want)
		}
	}
	u.mu.Lock()
	got := u.got
	u.mu.Unlock()
	if got.GetWorkflowFunctions()[0].GetAnnotations()["init-payload"] != "x=1" {
		t.Errorf("controller got %v, want the file's init-payload", got)
	}
	if out := mustCLI(t, srv.URL, "workflow", "list"); out != "wf-1\n" {
		t.Errorf("list = %q, want the id alone", out)
	}
	out = mustCLI(t, srv.URL, "workflow", "inspect", "wf-1")
	if !strings.Contains(out, "Workflow wf-1 in domain domain-7") || !strings.Contains(out, "sink") || !strings.Contains(out, "f-1") {
		t.Errorf("inspect = %q", out)
	}
}

func TestCLI_NoController(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "w.json", `{"functions": [{"name": "sink", "class_specification": {"id": "sink",
	  "function_type": "CONTAINER", "version": "0.1", "code": "container:edgeless-example-sink:dev", "outputs": []},
	  "output_mapping": {}, "annotations": {}}], "resources": [], "annotations": {}}`)
	for _, args := range [][]string{{"workflow", "list"}, {"workflow", "start", path}, {"workflow", "stop", "x"}, {"workflow", "inspect", "x"}} {
		_, err := runCLI(t, "http://127.0.0.1:1", args...)
		if err == nil || !strings.Contains(err.Error(), "is a controller running at http://127.0.0.1:1?") {
			t.Errorf("edgeless %s without a controller = %v, want a hint", strings.Join(args, " "), err)
		}
	}
	if _, err := runCLI(t, "127.0.0.1:7001", "workflow", "list"); err == nil || !strings.Contains(err.Error(), `controller URL "127.0.0.1:7001": want http://<host>:<port>`) {
		t.Errorf("bad controller URL = %v", err)
	}
	// https needs a TLS config (--tls-config or tls_config.toml): without
	// one it would be dialled as h2c and fail obscurely.
	if _, err := runCLI(t, "https://127.0.0.1:7001", "workflow", "list"); err == nil || !strings.Contains(err.Error(), `controller URL "https://127.0.0.1:7001": https needs a TLS client config`) {
		t.Errorf("https controller URL = %v", err)
	}
}

// TestCLI_NotAController points --controller-url at a server that is not a
// controller (what a node's agent URL serves): the error says so.
func TestCLI_NotAController(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewNodeManagementHandler(edgelessapiconnect.UnimplementedNodeManagementHandler{}))
	mux.Handle(edgelessapiconnect.NewFunctionInstanceHandler(edgelessapiconnect.UnimplementedFunctionInstanceHandler{}))
	srv := transporttest.NewH2COnlyServer(t, mux)
	path := writeFile(t, "w.json", `{"functions": [{"name": "sink", "class_specification": {"id": "sink",
	  "function_type": "CONTAINER", "version": "0.1", "code": "container:edgeless-example-sink:dev", "outputs": []},
	  "output_mapping": {}, "annotations": {}}], "resources": [], "annotations": {}}`)
	for _, args := range [][]string{{"workflow", "list"}, {"workflow", "start", path}} {
		_, err := runCLI(t, srv.URL, args...)
		if err == nil || !strings.Contains(err.Error(), srv.URL+" is not a controller") {
			t.Errorf("edgeless %s at a node = %v, want it to say that is not a controller", strings.Join(args, " "), err)
		}
	}
}
