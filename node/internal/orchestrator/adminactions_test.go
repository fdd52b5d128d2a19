package orchestrator

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
)

// startThree starts threeFunctions on a fake node through the admin API
// and returns its id.
func startThree(t *testing.T, o *testOrc) string {
	t.Helper()
	body, err := protojson.Marshal(threeFunctions())
	if err != nil {
		t.Fatal(err)
	}
	_, ps := postWorkflow(t, o, body)
	last := ps[len(ps)-1]
	if last.Type != adminapi.ProgressDone {
		t.Fatalf("start ended with %+v", last)
	}
	return last.WorkflowID
}

func TestAdmin_WorkflowFile(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	o.register(t, newFakeAgent(t))
	for _, tt := range []struct {
		name, file, want string
	}{
		{"unknown target", `{"functions": [{"name": "a", "class_specification": {"id": "a", "function_type": "CONTAINER", "version": "0.1",
			"code": "container:a:dev", "outputs": ["output"]}, "output_mapping": {"output": "snk"}, "annotations": {}}], "resources": [], "annotations": {}}`,
			`functions[0] "a".output_mapping[output]: unknown target "snk"`},
		{"syntax", `{"functions": [`, "line 1"},
		{"wasm path", `{"functions": [{"name": "w", "class_specification": {"id": "w", "function_type": "RUST_WASM", "version": "0.1",
			"code": "/etc/passwd", "outputs": []}, "output_mapping": {}, "annotations": {}}], "resources": [], "annotations": {}}`,
			`functions[0] "w".class_specification.code: a RUST_WASM file is read by the CLI`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Post(o.controllerURL+"/admin/v1/workflow-files", "application/json", strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e adminapi.Error
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, tt.want) {
				t.Errorf("POST workflow-files = %s %q, want 400 with an error containing %q", resp.Status, e.Error, tt.want)
			}
		})
	}
}

// jsonText is a workflow file that Controller.Post sends as it is.
type jsonText string

func (j jsonText) MarshalJSON() ([]byte, error) { return []byte(j), nil }

func TestAdmin_WorkflowEventsAndShape(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	o.register(t, newFakeAgent(t))
	id := startThree(t, o)
	c := adminapi.Controller{BaseURL: o.controllerURL}
	wi, err := c.WorkflowEvents(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range wi.Functions {
		if f.EventsReceived == nil || *f.EventsReceived != fakeEventsReceived {
			t.Errorf("%s: EventsReceived = %v, want %d", f.Name, f.EventsReceived, fakeEventsReceived)
		}
		if f.EventsSent["output"] != fakeEventsSent {
			t.Errorf("%s: EventsSent = %v, want output:%d", f.Name, f.EventsSent, fakeEventsSent)
		}
		for alias, to := range f.OutputMapping {
			got[f.Name+":"+alias] = to
		}
	}
	if diff := cmp.Diff(map[string]string{"ticker:output": "transformer", "transformer:output": "sink"}, got); diff != "" {
		t.Errorf("output mappings (-want +got):\n%s", diff)
	}
	if wi.Functions[0].Annotations["init-payload"] != "period-ms=100" {
		t.Errorf("ticker annotations = %v, want its init-payload", wi.Functions[0].Annotations)
	}
	nodes, err := c.NodesEvents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].EventsReceived == nil || *nodes[0].EventsReceived != 3*fakeEventsReceived {
		t.Errorf("nodes?events=1 = %+v, want one node with %d events received", nodes, 3*fakeEventsReceived)
	}
	if nodes, err := c.Nodes(t.Context()); err != nil || len(nodes) != 1 || nodes[0].EventsReceived != nil {
		t.Errorf("nodes = %+v, %v; want one node without events unasked", nodes, err)
	}
	plain, err := c.Workflow(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range plain.Functions {
		if f.EventsReceived != nil || f.EventsSent != nil {
			t.Errorf("%s: EventsReceived = %v, EventsSent = %v without events=1, want them unasked", f.Name, f.EventsReceived, f.EventsSent)
		}
	}
}

func TestAdmin_CastCallLogsStop(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	id := startThree(t, o)
	a.takeCalls()
	c := adminapi.Controller{BaseURL: o.controllerURL}
	ctx := t.Context()

	if err := c.Cast(ctx, id, "sink", "hi"); err != nil {
		t.Errorf("Cast: %v", err)
	}
	if got := a.takeCalls(); !cmp.Equal(got, []string{"admin cast sink hi"}) {
		t.Errorf("node saw %q, want the cast", got)
	}
	if r, err := c.Call(ctx, id, "transformer", "x"); err != nil || r.Msg != "transformer got x" {
		t.Errorf("Call = %+v, %v; want the node's reply", r, err)
	}
	if lines, err := c.Output(ctx, id, "ticker"); err != nil || len(lines) != 1 || lines[0].Text != "hello from ticker" {
		t.Errorf("Output = %+v, %v; want the node's line", lines, err)
	}
	if err := c.Cast(ctx, id, "nobody", "hi"); err == nil || !strings.Contains(err.Error(), `has no function "nobody"`) {
		t.Errorf("Cast to an unknown function = %v, want an error naming it", err)
	}
	var out any
	if err := c.Post(ctx, "/admin/v1/workflows/"+id+"/functions/sink/cast", jsonText(`{"payload": "x", "extra": 1}`), &out); err == nil || !strings.Contains(err.Error(), `unknown field "extra"`) {
		t.Errorf("cast with an unknown field = %v, want an error naming it", err)
	}

	if err := c.StopWorkflow(ctx, id); err != nil {
		t.Fatalf("StopWorkflow: %v", err)
	}
	if wfs, err := c.Workflows(ctx); err != nil || len(wfs) != 0 {
		t.Errorf("workflows after stop = %v, %v; want none", wfs, err)
	}
	if err := c.StopWorkflow(ctx, id); err == nil || !strings.Contains(err.Error(), "unknown workflow") {
		t.Errorf("second StopWorkflow = %v, want unknown workflow", err)
	}
}

func TestAdmin_CrossSiteRefused(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	o.register(t, newFakeAgent(t))
	id := startThree(t, o)
	for _, tt := range []struct {
		name, contentType string
		want              int
	}{
		{"simple request (no preflight)", "text/plain", http.StatusUnsupportedMediaType},
		{"JSON from another site", "application/json", http.StatusForbidden},
	} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, o.controllerURL+"/admin/v1/workflows/"+id+"/stop", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tt.contentType)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "http://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: POST stop = %s, want %d", tt.name, resp.Status, tt.want)
		}
	}
	if _, err := (adminapi.Controller{BaseURL: o.controllerURL}).Workflow(t.Context(), id); err != nil {
		t.Errorf("workflow after refused stops: %v", err)
	}
}

func TestAdmin_NodeHealthAndProviders(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	a.resources = []*edgelessapi.ResourceProviderSpecification{{ProviderId: "file-log-1", ClassType: "file-log"}}
	o.register(t, a)
	ns, err := adminapi.Controller{BaseURL: o.controllerURL}.Nodes(t.Context())
	if err != nil || len(ns) != 1 {
		t.Fatalf("Nodes = %v, %v; want one", ns, err)
	}
	want := &adminapi.NodeHealth{ProcCPUPercent: 3, ProcRSSKiB: 20480, MemAvailableKiB: 1 << 20, LoadAvg1: 1.5}
	if diff := cmp.Diff(want, ns[0].Health); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
	if got := ns[0].ResourceProviders; !cmp.Equal(got, []string{"file-log-1 (file-log)"}) {
		t.Errorf("ResourceProviders = %q, want the file-log provider", got)
	}
}
