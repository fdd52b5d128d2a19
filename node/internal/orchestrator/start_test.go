package orchestrator

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

func fn(name, class, code string, mapping map[string]string, annotations map[string]string) *edgelessapi.WorkflowFunction {
	return &edgelessapi.WorkflowFunction{
		Name:          name,
		ClassSpec:     &edgelessapi.FunctionClassSpecification{Id: class, FunctionType: "CONTAINER", Version: "0.1", Code: code},
		OutputMapping: mapping,
		Annotations:   annotations,
	}
}

// threeFunctions is ticker -> transformer -> sink.
func threeFunctions() *edgelessapi.SpawnWorkflowRequest {
	return &edgelessapi.SpawnWorkflowRequest{WorkflowFunctions: []*edgelessapi.WorkflowFunction{
		fn("ticker", "ticker", "container:ticker:dev", map[string]string{"output": "transformer"}, map[string]string{"init-payload": "period-ms=100"}),
		fn("transformer", "transformer", "container:transformer:dev", map[string]string{"output": "sink"}, nil),
		fn("sink", "sink", "container:sink:dev", nil, nil),
	}}
}

func TestStart_StartsPatchesAndStops(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	a.waitCalls(2)

	for _, client := range []struct {
		name string
		c    edgelessapiconnect.WorkflowInstanceClient
	}{
		{"grpc", o.workflows()},
		{"connect", edgelessapiconnect.NewWorkflowInstanceClient(o.adminHTTP, o.controllerURL)},
	} {
		t.Run(client.name, func(t *testing.T) {
			resp, err := client.c.Start(t.Context(), threeFunctions())
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if resp.ResponseError != nil {
				t.Fatalf("Start: response_error %v", resp.ResponseError)
			}
			want := []string{
				"Start ticker", "Start transformer", "Start sink",
				"Patch ticker output->transformer", "Patch transformer output->sink",
			}
			if diff := cmp.Diff(want, a.waitCalls(5)); diff != "" {
				t.Errorf("agent calls (-want +got):\n%s", diff)
			}
			st := resp.GetWorkflowStatus()
			wfID := st.GetWorkflowId().GetWorkflowId()
			if _, err := uuid.Parse(wfID); err != nil {
				t.Errorf("workflow id %q: %v", wfID, err)
			}
			var names []string
			for _, m := range st.GetDomainMapping() {
				names = append(names, m.GetName())
				if a.class(m.GetFunctionId()) != m.GetName() || m.GetDomainId() != "domain-1" {
					t.Errorf("mapping %v: not the instance the node started for it", m)
				}
			}
			if diff := cmp.Diff([]string{"ticker", "transformer", "sink"}, names); diff != "" {
				t.Errorf("domain_mapping names (-want +got):\n%s", diff)
			}
			a.mu.Lock()
			first := a.starts[len(a.starts)-3]
			a.mu.Unlock()
			if got := first.GetAnnotations()["init-payload"]; got != "period-ms=100" {
				t.Errorf("Start annotations init-payload = %q, want %q", got, "period-ms=100")
			}
			if first.GetWorkflowId() != wfID || first.GetStateSpecification().GetPolicy() != edgelessapi.StatePolicy_NODE_LOCAL {
				t.Errorf("Start request = %v, want workflow %s and NODE_LOCAL state", first, wfID)
			}
			if _, err := uuid.Parse(first.GetStateSpecification().GetStateId()); err != nil {
				t.Errorf("state_id: %v", err)
			}

			list, err := client.c.List(t.Context(), &emptypb.Empty{})
			if err != nil || len(list.GetIdentifiers()) != 1 || list.GetIdentifiers()[0] != wfID {
				t.Errorf("List = %v, %v; want [%s]", list, err, wfID)
			}
			info, err := client.c.Inspect(t.Context(), &edgelessapi.WorkflowId{WorkflowId: wfID})
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if len(info.GetRequest().GetWorkflowFunctions()) != 3 || len(info.GetStatus().GetDomainMapping()) != 3 {
				t.Errorf("Inspect = %v, want the request and 3 mappings", info)
			}

			wi := o.info(o.record(wfID))
			if got := wi.Functions[0]; got.NodeID != a.nodeID || got.AgentURL != a.url() || got.Steps.BootMS == nil || *got.Steps.BootMS != 12.5 {
				t.Errorf("admin info = %+v, want node %s, agent %s, boot 12.5ms", got, a.nodeID, a.url())
			}

			if _, err := client.c.Stop(t.Context(), &edgelessapi.WorkflowId{WorkflowId: wfID}); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if diff := cmp.Diff([]string{"Stop sink", "Stop transformer", "Stop ticker"}, a.waitCalls(3)); diff != "" {
				t.Errorf("stop calls (-want +got):\n%s", diff)
			}
			_, err = client.c.Stop(t.Context(), &edgelessapi.WorkflowId{WorkflowId: wfID})
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("second Stop = %v, want NotFound", err)
			}
			if _, err := client.c.Inspect(t.Context(), &edgelessapi.WorkflowId{WorkflowId: wfID}); connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("Inspect after Stop = %v, want NotFound", err)
			}
		})
	}
}

func TestStart_FailureRollsBack(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	a.waitCalls(2)
	a.onStart = func(req *edgelessapi.SpawnFunctionRequest) (*edgelessapi.StartComponentResponse, error) {
		if req.GetCode().GetId() != "sink" {
			return nil, nil
		}
		detail := `image "sink:dev" not found locally (the runtime never pulls; load or build it first)`
		return &edgelessapi.StartComponentResponse{ResponseError: &edgelessapi.ResponseError{
			Summary: "Error when creating a function instance", Detail: &detail,
		}}, nil
	}
	var progress []string
	_, err := o.StartWorkflow(t.Context(), threeFunctions(), func(p adminapi.Progress) {
		progress = append(progress, p.Type+" "+p.Function)
	})
	var se *StartError
	if !errors.As(err, &se) || se.Function != "sink" || !strings.Contains(err.Error(), `image "sink:dev" not found locally`) {
		t.Fatalf("StartWorkflow = %v, want a StartError for sink naming the image", err)
	}
	want := []string{"Start ticker", "Start transformer", "Start sink", "Stop transformer", "Stop ticker"}
	if diff := cmp.Diff(want, a.waitCalls(5)); diff != "" {
		t.Errorf("agent calls (-want +got):\n%s", diff)
	}
	wantProgress := []string{
		"placed ticker", "started ticker", "placed transformer", "started transformer", "placed sink",
		"failed sink", "rolled_back transformer", "rolled_back ticker",
	}
	if diff := cmp.Diff(wantProgress, progress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if n := len(o.records()); n != 0 {
		t.Errorf("%d workflows listed after a failed start, want 0", n)
	}

	// Through the wire: response_error names the function and the cause.
	resp, err := o.workflows().Start(t.Context(), threeFunctions())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := resp.GetResponseError(); got.GetSummary() != `function "sink" failed to start` ||
		!strings.Contains(got.GetDetail(), `image "sink:dev" not found locally`) {
		t.Errorf("response_error = %v, want it to name sink and the image", got)
	}
}

// A start cancelled by its client (e.g. Ctrl-C in the CLI) still stops what
// it started.
func TestStart_CancelledRollsBack(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	a.waitCalls(2)
	ctx, cancel := context.WithCancel(t.Context())
	a.onStart = func(req *edgelessapi.SpawnFunctionRequest) (*edgelessapi.StartComponentResponse, error) {
		if req.GetCode().GetId() == "transformer" {
			cancel()
			return nil, connect.NewError(connect.CodeCanceled, context.Canceled)
		}
		return nil, nil
	}
	if _, err := o.StartWorkflow(ctx, threeFunctions(), nil); err == nil {
		t.Fatal("StartWorkflow = nil error, want a cancellation")
	}
	want := []string{"Start ticker", "Start transformer", "Stop ticker"}
	if diff := cmp.Diff(want, a.waitCalls(3)); diff != "" {
		t.Errorf("agent calls (-want +got):\n%s", diff)
	}
}

func TestStart_Refused(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	empty := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	a.waitCalls(2)

	wasm := threeFunctions()
	wasm.WorkflowFunctions[1].ClassSpec.FunctionType = "RUST_WASM"
	wasm.WorkflowFunctions[1].ClassSpec.Binary = []byte("\x00asm")
	withResource := threeFunctions()
	withResource.WorkflowResources = []*edgelessapi.WorkflowResource{{Name: "log", ClassType: "file-log"}}
	badTarget := threeFunctions()
	badTarget.WorkflowFunctions[2].OutputMapping = map[string]string{"output": "nowhere"}
	pinned := threeFunctions()
	pinned.WorkflowFunctions[0].Annotations["node_id_match_any"] = uuid.NewString()

	tests := []struct {
		name          string
		o             *testOrc
		req           *edgelessapi.SpawnWorkflowRequest
		summary, want string
	}{
		{"no runtime", o, wasm, `no node can host function "transformer"`,
			`function "transformer" (RUST_WASM): no registered node can host it: node ` + a.nodeID + ` offers runtimes [CONTAINER]`},
		{"no nodes", empty, threeFunctions(), `no node can host function "ticker"`, "no node is registered with the orchestrator"},
		{"resource no node offers", o, withResource, `no node offers resource "log" (file-log)`,
			`resources[0] "log" (class_type "file-log"): no registered node offers a "file-log" resource provider: node ` + a.nodeID + ` offers no resource providers`},
		{"invalid", o, badTarget, "invalid workflow", `functions[2] "sink".output_mapping[output]: unknown target "nowhere"`},
		{"pinned elsewhere", o, pinned, `no node can host function "ticker"`, "is not in node_id_match_any="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.o.workflows().Start(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			got := resp.GetResponseError()
			if got.GetSummary() != tt.summary || !strings.Contains(got.GetDetail(), tt.want) {
				t.Errorf("Start(%s) response_error = %v, want summary %q and detail containing %q", tt.name, got, tt.summary, tt.want)
			}
		})
	}
	if got := a.takeCalls(); len(got) != 0 {
		t.Errorf("refused workflows called the node: %q", got)
	}
}

func TestWorkflowInstance_Unimplemented(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	_, err := o.workflows().Migrate(t.Context(), &edgelessapi.MigrateWorkflowRequest{})
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("Migrate = %v, want Unimplemented", err)
	}
}

func TestDomains(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{DomainID: "box"})
	a, b := newFakeAgent(t), newFakeAgent(t)
	o.register(t, a)
	o.register(t, b)
	got, err := o.workflows().Domains(t.Context(), &edgelessapi.DomainId{})
	if err != nil {
		t.Fatalf("Domains: %v", err)
	}
	e := got.GetDomainCapabilities()
	if len(e) != 1 || e[0].GetDomainId() != "box" || e[0].GetDomainCapabilities().GetNumNodes() != 2 ||
		e[0].GetDomainCapabilities().GetNumCores() != 4 {
		t.Errorf("Domains = %v, want domain box with 2 nodes and 4 cores", got)
	}
}
