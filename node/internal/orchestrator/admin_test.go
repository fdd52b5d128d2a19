package orchestrator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
)

func postWorkflow(t *testing.T, o *testOrc, body []byte) (*http.Response, []adminapi.Progress) {
	t.Helper()
	resp, err := http.Post(o.controllerURL+"/admin/v1/workflows", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	var ps []adminapi.Progress
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var p adminapi.Progress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ps = append(ps, p)
	}
	return resp, ps
}

func TestAdmin_StartStreamsProgress(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	body, err := protojson.Marshal(threeFunctions())
	if err != nil {
		t.Fatal(err)
	}
	resp, ps := postWorkflow(t, o, body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q, want application/x-ndjson", ct)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Type+" "+p.Function)
	}
	want := []string{
		"placed ticker", "started ticker", "placed transformer", "started transformer",
		"placed sink", "started sink", "patched ", "done ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("progress (-want +got):\n%s", diff)
	}
	started := ps[1]
	if started.Image != "ticker:dev" || started.NodeID != a.nodeID || started.FunctionID == "" ||
		started.Steps == nil || started.Steps.InitMS == nil || *started.Steps.InitMS != 1.25 {
		t.Errorf("started event = %+v, want image, node, instance and the node's init duration", started)
	}
	wfID := ps[len(ps)-1].WorkflowID

	var wi adminapi.WorkflowInfo
	getJSON(t, o.controllerURL+"/admin/v1/workflows/"+wfID, http.StatusOK, &wi)
	if len(wi.Functions) != 3 || wi.Functions[2].Name != "sink" || wi.Functions[2].AgentURL != a.url() {
		t.Errorf("workflow info = %+v, want 3 functions on %s", wi, a.url())
	}
	var list []adminapi.WorkflowInfo
	getJSON(t, o.controllerURL+"/admin/v1/workflows", http.StatusOK, &list)
	if len(list) != 1 || list[0].WorkflowID != wfID {
		t.Errorf("workflow list = %+v, want [%s]", list, wfID)
	}
	var nodes []adminapi.NodeInfo
	getJSON(t, o.controllerURL+"/admin/v1/nodes", http.StatusOK, &nodes)
	if len(nodes) != 1 || nodes[0].NodeID != a.nodeID || nodes[0].Status != "ready" || nodes[0].Instances != 3 {
		t.Errorf("nodes = %+v, want the ready node with 3 instances", nodes)
	}
	var e map[string]string
	getJSON(t, o.controllerURL+"/admin/v1/workflows/nope", http.StatusNotFound, &e)
	if !strings.Contains(e["error"], `unknown workflow "nope"`) {
		t.Errorf("unknown workflow error = %v", e)
	}
}

func TestAdmin_StartErrors(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	resp, _ := postWorkflow(t, o, []byte(`{"workflowFunctions": 3}`))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad body: status %d, want 400", resp.StatusCode)
	}
	body, _ := protojson.Marshal(threeFunctions())
	_, ps := postWorkflow(t, o, body)
	if len(ps) != 1 || ps[0].Type != adminapi.ProgressError || !strings.Contains(ps[0].Detail, "no node is registered") {
		t.Errorf("progress = %+v, want one error line saying no node is registered", ps)
	}
}

func getJSON(t *testing.T, url string, status int, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d", url, resp.StatusCode, status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestAdmin_CrossSiteStartRefused replays the attack of issue 9: a page
// POSTs a workflow as text/plain, with its own Origin, under a rebinding
// Host. Each variant is refused and no workflow starts.
func TestAdmin_CrossSiteStartRefused(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	body, _ := protojson.Marshal(threeFunctions())
	for _, tt := range []struct {
		name   string
		header map[string]string
		host   string
		want   int
	}{
		{"all three", map[string]string{"Content-Type": "text/plain", "Origin": "http://attacker.example"}, "attacker.example", http.StatusForbidden},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, "", http.StatusUnsupportedMediaType},
		{"foreign origin", map[string]string{"Content-Type": "application/json", "Origin": "http://attacker.example"}, "", http.StatusForbidden},
		{"rebinding host", map[string]string{"Content-Type": "application/json"}, "attacker.example:7001", http.StatusForbidden},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, o.controllerURL+"/admin/v1/workflows", bytes.NewReader(body))
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		if tt.host != "" {
			req.Host = tt.host
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("POST workflow (%s) = %d, want %d", tt.name, res.StatusCode, tt.want)
		}
	}
	var wfs []adminapi.WorkflowInfo
	getJSON(t, o.controllerURL+"/admin/v1/workflows", http.StatusOK, &wfs)
	if len(wfs) != 0 {
		t.Errorf("workflows after refused requests = %d, want 0", len(wfs))
	}
}
