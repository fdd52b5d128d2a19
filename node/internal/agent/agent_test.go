package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestAgent_StartUnknownFunctionType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		withRuntime bool
		typ         string
		want        string
	}{
		{"no runtime", false, "CONTAINER", `Could not find runner for "CONTAINER"; this node has runtimes: none`},
		{"wasm", true, "RUST_WASM", `Could not find runner for "RUST_WASM"; this node has runtimes: CONTAINER`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newTestNode(t, tt.withRuntime)
			req := spawnRequest("container:img", uuid.NewString(), nil)
			req.Code.FunctionType = tt.typ
			res, err := n.fi.Start(t.Context(), req)
			if err != nil {
				t.Fatalf("Start() = %v, want a ResponseError", err)
			}
			if got := res.GetResponseError().GetDetail(); got != tt.want || res.GetInstanceId() != nil {
				t.Errorf("Start() detail = %q (instance %v), want %q and no instance", got, res.GetInstanceId(), tt.want)
			}
			if got, want := res.GetResponseError().GetSummary(), "Error when creating a function instance"; got != want {
				t.Errorf("Start() summary = %q, want %q", got, want)
			}
		})
	}
}

func TestAgent_StartInvalidRequest(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	for _, tt := range []struct {
		name   string
		mutate func(*edgelessapi.SpawnFunctionRequest)
		want   string
	}{
		{"no class", func(r *edgelessapi.SpawnFunctionRequest) { r.Code = nil }, "Request does not contain actor class."},
		{"no state spec", func(r *edgelessapi.SpawnFunctionRequest) { r.StateSpecification = nil }, "Request does not contain state_spec."},
		{"bad state id", func(r *edgelessapi.SpawnFunctionRequest) { r.StateSpecification.StateId = "s1" }, `state_id "s1" is not a UUID`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := spawnRequest("container:img", uuid.NewString(), nil)
			tt.mutate(req)
			_, err := n.fi.Start(t.Context(), req)
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start() = %v, want INVALID_ARGUMENT %q", err, tt.want)
			}
		})
	}
	res, err := n.fi.Start(t.Context(), spawnRequest("", uuid.NewString(), nil))
	if err != nil || !strings.Contains(res.GetResponseError().GetDetail(), "has no code") {
		t.Errorf("Start(empty code) = %v, %v; want a ResponseError about the code", res, err)
	}
}

func TestAgent_StartFailureIsReported(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	for _, tt := range []struct {
		name, code  string
		annotations map[string]string
		want        string
	}{
		{"bad code", "lambda:foo", nil, "bad function code"},
		{"nothing listens", "grpc:http://127.0.0.1:1", nil, "boot"},
		{"memory above the maximum", "grpc:http://127.0.0.1:1", map[string]string{"container.memory": "1TiB"},
			"limit exceeded: memory 1099511627776 bytes is above the node's maximum"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := n.fi.Start(t.Context(), spawnRequest(tt.code, uuid.NewString(), tt.annotations))
			if err != nil {
				t.Fatalf("Start() = %v, want a ResponseError", err)
			}
			if e := res.GetResponseError(); e == nil || !strings.Contains(e.GetDetail(), tt.want) {
				t.Errorf("Start(%q) = %v, want a ResponseError containing %q", tt.code, res, tt.want)
			}
		})
	}
	if got := len(n.agent.all()); got != 0 {
		t.Errorf("instances after failed starts = %d, want 0", got)
	}
}

func TestAgent_StartPatchStop(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	fa, fb := newTestFunction(t), newTestFunction(t)
	a := n.start(t, fa, uuid.NewString())
	b := n.start(t, fb, uuid.NewString())

	// Start answered only once Init was done: the init payload is there.
	if got := n.call(t, a, "init"); got != "p=1" {
		t.Errorf("init payload = %q, want p=1", got)
	}
	// Before Patch, "out" is unmapped: the call answers ERR.
	rep, err := n.dp.Call(t.Context(), contract.InstanceID{NodeID: n.nodeID, FunctionID: uuid.NewString()}, a, []byte("recall out hello"))
	if err != nil || rep.Type != edgelessapi.CallRetType_CALL_RET_ERR {
		t.Errorf("recall through an unmapped alias = %v, %v; want CALL_RET_ERR", rep, err)
	}
	_, err = n.fi.Patch(t.Context(), &edgelessapi.PatchRequest{FunctionId: a.FunctionID, OutputMapping: map[string]*edgelessapi.InstanceId{
		"out":   {NodeId: b.NodeID, FunctionId: b.FunctionID},
		"bogus": {NodeId: "x", FunctionId: "y"},
	}})
	if err != nil {
		t.Fatalf("Patch() = %v", err)
	}
	if got := n.call(t, a, "recall out hello"); got != "hello" {
		t.Errorf("A recall out hello = %q, want B's echo %q", got, "hello")
	}
	if !strings.Contains(n.logs.String(), "dropping a mapping") {
		t.Error("the bogus mapping was not reported")
	}

	// Stop: gone from the table and the data plane; stopping again is fine.
	n.stop(t, a)
	n.stop(t, a)
	if _, ok := n.agent.lookup(a.FunctionID); ok {
		t.Error("instance still in the table after Stop")
	}
	if _, err := n.dp.Call(t.Context(), contract.InstanceID{NodeID: n.nodeID, FunctionID: uuid.NewString()}, a, []byte("x")); err == nil {
		t.Error("call to a stopped instance succeeded")
	}
	if _, err := n.fi.Patch(t.Context(), &edgelessapi.PatchRequest{FunctionId: a.FunctionID}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("Patch(stopped) = %v, want NOT_FOUND", err)
	}
	// The Connect protocol works too.
	if _, err := n.fiCon.Stop(t.Context(), variant(b)); err != nil {
		t.Errorf("Stop over Connect = %v", err)
	}
}

func TestAgent_StopBadRequests(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, false)
	for _, tt := range []struct {
		name string
		req  *edgelessapi.InstanceIdVariant
	}{
		{"domain managed", &edgelessapi.InstanceIdVariant{InstanceIdType: &edgelessapi.InstanceIdVariant_DomainManagedInstanceId{
			DomainManagedInstanceId: &edgelessapi.DomainManagedInstanceId{InstanceId: uuid.NewString()}}}},
		{"bad uuid", variant(contract.InstanceID{NodeID: n.nodeID, FunctionID: "f"})},
		{"other node", variant(contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := n.fi.Stop(t.Context(), tt.req); connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("Stop() = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
	// An unknown instance of this node: already stopped, fine.
	if _, err := n.fi.Stop(t.Context(), variant(contract.InstanceID{NodeID: n.nodeID, FunctionID: uuid.NewString()})); err != nil {
		t.Errorf("Stop(unknown) = %v, want success", err)
	}
}

func TestAgent_StopDuringStart(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	fn := newTestFunction(t)
	fn.blockBoot = make(chan struct{}) // never opened: Boot hangs
	type result struct {
		res *edgelessapi.StartComponentResponse
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := n.fi.Start(context.Background(), spawnRequest("grpc:"+fn.url, uuid.NewString(), nil))
		done <- result{res, err}
	}()
	var in *instance
	for deadline := time.Now().Add(10 * time.Second); in == nil; {
		if all := n.agent.all(); len(all) == 1 {
			in = all[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the instance never appeared in the table")
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if got := in.currentState(); got != stateStarting {
		t.Errorf("state during Boot = %q, want %q", got, stateStarting)
	}
	n.stop(t, in.id)
	r := <-done
	if r.err != nil || r.res.GetResponseError() == nil {
		t.Errorf("Start() interrupted by Stop = %v, %v; want a ResponseError", r.res, r.err)
	}
	if got := len(n.agent.all()); got != 0 {
		t.Errorf("instances = %d, want 0", got)
	}
}

func TestAgent_StateSurvivesRestart(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	stateID := uuid.NewString()
	first := n.start(t, newTestFunction(t), stateID)
	if got := n.call(t, first, "state"); got != "" {
		t.Errorf("state of a new state id = %q, want empty", got)
	}
	if got := n.call(t, first, "sync counter=41"); got != "ok" {
		t.Fatalf("sync = %q", got)
	}
	n.stop(t, first)
	if data, err := os.ReadFile(filepath.Join(n.states.Dir(), stateID)); err != nil || string(data) != "counter=41" {
		t.Errorf("state file = %q, %v; want counter=41", data, err)
	}
	second := n.start(t, newTestFunction(t), stateID)
	if got := n.call(t, second, "state"); got != "counter=41" {
		t.Errorf("state in Init of the next instance = %q, want counter=41", got)
	}
	// Another state id does not see it.
	other := n.start(t, newTestFunction(t), uuid.NewString())
	if got := n.call(t, other, "state"); got != "" {
		t.Errorf("state of another state id = %q, want empty", got)
	}
}

func TestAgent_TransientStateIsNotKept(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	stateID := uuid.NewString()
	req := spawnRequest("grpc:"+newTestFunction(t).url, stateID, nil)
	req.StateSpecification.Policy = edgelessapi.StatePolicy_TRANSIENT
	res, err := n.fi.Start(t.Context(), req)
	if err != nil || res.GetResponseError() != nil {
		t.Fatalf("Start() = %v, %v", res, err)
	}
	id := res.GetInstanceId().GetInstanceId()
	n.call(t, contract.InstanceID{NodeID: id.GetNodeId(), FunctionID: id.GetFunctionId()}, "sync x")
	if _, found, _ := n.states.Load(stateID); found {
		t.Error("a TRANSIENT instance's Sync was persisted")
	}
}

func TestAgent_FunctionLogAndMetrics(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	id := n.start(t, newTestFunction(t), uuid.NewString())
	n.call(t, id, "log my-target hello from the function")
	logs := n.logs.String()
	if !strings.Contains(logs, `"msg":"hello from the function"`) || !strings.Contains(logs, `"instance":"`+id.FunctionID+`"`) {
		t.Errorf("node log lacks the function's log line with its instance id:\n%s", logs)
	}
	srv := h2cServer(t, n.metrics.Handler())
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`edgeless_node_instances{state="running"} 1`,
		`edgeless_node_instance_cold_start_seconds_count 1`,
		`edgeless_node_event_duration_seconds_count{kind="call",outcome="ok"} 1`,
		`edgeless_node_function_log_entries_total{level="info"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestAgent_Reset(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	fns := []*testFunction{newTestFunction(t), newTestFunction(t)}
	for _, f := range fns {
		n.start(t, f, uuid.NewString())
	}
	if _, err := n.nm.Reset(t.Context(), &emptypb.Empty{}); err != nil {
		t.Fatalf("Reset() = %v", err)
	}
	if got := len(n.agent.all()); got != 0 {
		t.Errorf("instances after Reset = %d, want 0", got)
	}
	for i, f := range fns {
		if got := f.stops(); got != 1 {
			t.Errorf("function %d got %d Stop commands from Reset, want 1", i, got)
		}
	}
}

func TestAgent_UpdatePeers(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, false)
	peer, url := uuid.NewString(), "http://127.0.0.1:7006"
	add := func(id, u *string) error {
		_, err := n.nm.UpdatePeers(t.Context(), &edgelessapi.UpdatePeersRequest{RequestType: edgelessapi.UpdatePeersRequestType_ADD, NodeId: id, InvocationUrl: u})
		return err
	}
	if err := add(&peer, &url); err != nil {
		t.Fatalf("ADD = %v", err)
	}
	self := n.nodeID
	if err := add(&self, &url); err != nil {
		t.Errorf("ADD self = %v, want success (ignored)", err)
	}
	if got := n.dp.Peers(); len(got) != 1 || got[peer] != url {
		t.Errorf("peers = %v, want only %s", got, peer)
	}
	for _, tt := range []struct {
		name   string
		id, u  *string
		substr string
	}{
		{"no node id", nil, &url, "without node_id"},
		{"bad node id", ptr("n1"), &url, "not a UUID"},
		{"no url", &peer, nil, "without invocation_url"},
		{"bad url", &peer, ptr("not a url"), ""},
	} {
		if err := add(tt.id, tt.u); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tt.substr) {
			t.Errorf("ADD %s = %v, want INVALID_ARGUMENT %q", tt.name, err, tt.substr)
		}
	}
	if _, err := n.nm.UpdatePeers(t.Context(), &edgelessapi.UpdatePeersRequest{RequestType: edgelessapi.UpdatePeersRequestType_DEL, NodeId: &peer}); err != nil {
		t.Fatalf("DEL = %v", err)
	}
	if got := n.dp.Peers(); len(got) != 0 {
		t.Errorf("peers after DEL = %v", got)
	}
	add(&peer, &url)
	if _, err := n.nm.UpdatePeers(t.Context(), &edgelessapi.UpdatePeersRequest{RequestType: edgelessapi.UpdatePeersRequestType_CLEAR}); err != nil {
		t.Fatalf("CLEAR = %v (upstream panics here)", err)
	}
	if got := n.dp.Peers(); len(got) != 0 {
		t.Errorf("peers after CLEAR = %v", got)
	}
	if _, err := n.nm.UpdatePeers(t.Context(), &edgelessapi.UpdatePeersRequest{RequestType: 7}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("UpdatePeers(type 7) = %v, want INVALID_ARGUMENT", err)
	}
}

func TestAgent_ResourceConfiguration(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, false)
	res, err := n.rc.Start(t.Context(), &edgelessapi.ResourceInstanceSpecification{ResourceClassType: "http-egress"})
	if err != nil || !strings.Contains(res.GetResponseError().GetDetail(), `no resource providers; cannot create a resource of class type "http-egress"`) {
		t.Errorf("resource Start = %v, %v; want a ResponseError naming the class", res, err)
	}
	if _, err := n.rc.Stop(t.Context(), variant(contract.InstanceID{NodeID: n.nodeID, FunctionID: uuid.NewString()})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("resource Stop = %v, want NOT_FOUND", err)
	}
	if _, err := n.rc.Patch(t.Context(), &edgelessapi.PatchRequest{FunctionId: uuid.NewString()}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("resource Patch = %v, want NOT_FOUND", err)
	}
}

func TestAgent_StartAfterClose(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	if err := n.agent.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	res, err := n.fi.Start(t.Context(), spawnRequest("grpc:"+newTestFunction(t).url, uuid.NewString(), nil))
	if err != nil || !strings.Contains(res.GetResponseError().GetDetail(), "shutting down") {
		t.Errorf("Start after Close = %v, %v; want a ResponseError saying the node is shutting down", res, err)
	}
}

func adminDo(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	fn := newTestFunction(t)
	id := n.start(t, fn, uuid.NewString())
	base := n.url + "/admin/v1/instances"

	code, body := adminDo(t, "GET", base, "")
	var list []adminapi.Instance
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list) != 1 {
		t.Fatalf("GET instances = %d %s", code, body)
	}
	got := list[0]
	if got.FunctionID != id.FunctionID || got.NodeID != n.nodeID || got.ClassID != "test-class" || got.State != "running" || got.WorkflowID != "wf-1" {
		t.Errorf("instance = %+v, want %s running of class test-class in wf-1", got, id.FunctionID)
	}
	if !regexp.MustCompile(`"started_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"`).Match(body) {
		t.Errorf("GET instances = %s, want started_at in RFC3339 (UTC, whole seconds)", body)
	}

	if code, body := adminDo(t, "POST", base+"/"+id.FunctionID+"/call", "hi there"); code != 200 || string(body) != "{\"type\":\"REPLY\",\"msg\":\"hi there\"}\n" {
		t.Errorf("POST call = %d %s, want 200 REPLY hi there", code, body)
	}
	if code, body := adminDo(t, "POST", base+"/"+id.FunctionID+"/call", "bytes"); code != 200 || !strings.Contains(string(body), `"msg_base64":"//4="`) {
		t.Errorf("POST call (non-UTF-8 reply) = %d %s, want msg_base64", code, body)
	}
	if code, body := adminDo(t, "POST", base+"/"+id.FunctionID+"/call", "fail"); code != 200 || !strings.Contains(string(body), `"type":"ERR"`) {
		t.Errorf("POST call fail = %d %s, want ERR", code, body)
	}
	if code, body := adminDo(t, "POST", base+"/"+id.FunctionID+"/cast", "a cast"); code != 204 {
		t.Errorf("POST cast = %d %s, want 204", code, body)
	}
	select {
	case got := <-fn.cast:
		if got != "a cast" {
			t.Errorf("function got cast %q, want %q", got, "a cast")
		}
	case <-time.After(10 * time.Second):
		t.Error("the cast never reached the function")
	}
	// Sent events are counted by alias, only those that resolved.
	adminDo(t, "POST", base+"/"+id.FunctionID+"/call", "recall self again")
	adminDo(t, "POST", base+"/"+id.FunctionID+"/call", "recall no-such-alias x")
	code, body = adminDo(t, "GET", base, "")
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list) != 1 {
		t.Fatalf("GET instances = %d %s", code, body)
	}
	if diff := cmp.Diff(map[string]uint64{"self": 1}, list[0].EventsSent); diff != "" {
		t.Errorf("events_sent (-want +got):\n%s", diff)
	}
	if code, body := adminDo(t, "GET", base+"/"+id.FunctionID+"/logs", ""); code != 200 || !strings.HasPrefix(string(body), `{"lines":[`) {
		t.Errorf("GET logs = %d %s, want 200 with lines", code, body)
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", base + "/" + uuid.NewString() + "/logs"},
		{"POST", base + "/" + uuid.NewString() + "/call"},
		{"POST", base + "/not-a-uuid/cast"},
	} {
		code, body := adminDo(t, tt.method, tt.path, "x")
		var e map[string]string
		if json.Unmarshal(body, &e); code != 404 || e["error"] == "" {
			t.Errorf("%s %s = %d %s, want 404 with an error", tt.method, tt.path, code, body)
		}
	}
}

func TestNew_Validates(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{NodeID: "x"}); err == nil {
		t.Error("New(bad node id) = nil error")
	}
	if _, err := New(Config{NodeID: uuid.NewString()}); err == nil {
		t.Error("New(no dataplane) = nil error")
	}
}

// TestAdmin_CrossSiteRefused drives the node's admin API as a web page
// would: a simple cross-site POST, a foreign Origin, a rebinding Host. Each
// is refused and no event reaches the function.
func TestAdmin_CrossSiteRefused(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	fn := newTestFunction(t)
	id := n.start(t, fn, uuid.NewString())
	u := n.url + "/admin/v1/instances/" + id.FunctionID + "/cast"
	for _, tt := range []struct {
		name   string
		header map[string]string
		host   string
		want   int
	}{
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, "", http.StatusUnsupportedMediaType},
		{"foreign origin", map[string]string{"Content-Type": "application/octet-stream", "Origin": "https://attacker.example"}, "", http.StatusForbidden},
		{"rebinding host", map[string]string{"Content-Type": "application/octet-stream"}, "attacker.example", http.StatusForbidden},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader("forged"))
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
			t.Errorf("POST cast (%s) = %d, want %d", tt.name, res.StatusCode, tt.want)
		}
	}
	select {
	case got := <-fn.cast:
		t.Errorf("function got cast %q from a refused request", got)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestAgent_LongValuesNotEchoed sends ids of a megabyte: the errors name
// them, shortened, instead of sending the whole value back.
func TestAgent_LongValuesNotEchoed(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, true)
	long := strings.Repeat("é", 1<<19) // 1 MiB, multi-byte runes
	_, err := n.nm.UpdatePeers(t.Context(), &edgelessapi.UpdatePeersRequest{RequestType: edgelessapi.UpdatePeersRequestType_DEL, NodeId: &long})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || len(err.Error()) > 300 || !utf8.ValidString(err.Error()) {
		t.Errorf("UpdatePeers(1 MiB node_id) = %d bytes %.120q, want a short INVALID_ARGUMENT", len(err.Error()), err)
	}
	_, err = n.fi.Start(t.Context(), spawnRequest("container:img", long, nil))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || len(err.Error()) > 300 {
		t.Errorf("Start(1 MiB state_id) = %d bytes %.120q, want a short INVALID_ARGUMENT", len(err.Error()), err)
	}
}
