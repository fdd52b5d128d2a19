package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/google/uuid"
	"github.com/moby/moby/client"
)

// dockerNode starts a node with the container runtime whose containers are
// removed when the test ends (after the node has shut down).
func dockerNode(t *testing.T, registerURL string, edits ...func(*config.Config)) (*testNode, *client.Client) {
	t.Helper()
	dc := containertest.RequireDocker(t)
	cfg := testConfig(t, true, registerURL)
	for _, e := range edits {
		e(cfg)
	}
	containertest.CleanupNode(t, cfg.General.NodeID)
	return startNode(t, cfg), dc
}

// startFn starts an instance of the example image and returns its function id.
func (n *testNode) startFn(t *testing.T, image, stateID string) string {
	t.Helper()
	res, err := n.fi.Start(t.Context(), &edgelessapi.SpawnFunctionRequest{
		Code:               &edgelessapi.FunctionClassSpecification{Id: "example", FunctionType: "CONTAINER", Version: "0.1", Code: "container:" + image},
		Annotations:        map[string]string{"init-payload": "cast-delay-ms=0"},
		StateSpecification: &edgelessapi.StateSpecification{StateId: stateID, Policy: edgelessapi.StatePolicy_NODE_LOCAL},
		WorkflowId:         "wf",
	})
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	if e := res.GetResponseError(); e != nil {
		t.Fatalf("Start() = ResponseError %q: %q", e.GetSummary(), e.GetDetail())
	}
	id := res.GetInstanceId().GetInstanceId()
	if id.GetNodeId() != n.cfg.General.NodeID {
		t.Fatalf("Start() node_id = %q, want %q", id.GetNodeId(), n.cfg.General.NodeID)
	}
	return id.GetFunctionId()
}

func (n *testNode) stopFn(t *testing.T, functionID string) {
	t.Helper()
	_, err := n.fi.Stop(t.Context(), &edgelessapi.InstanceIdVariant{InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{
		InstanceId: &edgelessapi.InstanceId{NodeId: n.cfg.General.NodeID, FunctionId: functionID}}})
	if err != nil {
		t.Fatalf("Stop(%s) = %v", functionID, err)
	}
}

func (n *testNode) patch(t *testing.T, functionID string, mapping map[string]*edgelessapi.InstanceId) {
	t.Helper()
	if _, err := n.fi.Patch(t.Context(), &edgelessapi.PatchRequest{FunctionId: functionID, OutputMapping: mapping}); err != nil {
		t.Fatalf("Patch(%s) = %v", functionID, err)
	}
}

func (n *testNode) instanceID(functionID string) *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: n.cfg.General.NodeID, FunctionId: functionID}
}

func (n *testNode) instances(t *testing.T) []adminapi.Instance {
	t.Helper()
	code, body := n.admin(t, "GET", "/admin/v1/instances", "")
	var out []adminapi.Instance
	if err := json.Unmarshal(body, &out); code != 200 || err != nil {
		t.Fatalf("GET instances = %d %s", code, body)
	}
	return out
}

// containers returns the node's containers but those its prewarm pool
// holds (idle or filling): taken ones count, whatever their name.
func containers(t *testing.T, dc *client.Client, nodeID string) []string {
	t.Helper()
	rt, ok := nodeRuntimes.Load(config.CanonicalNodeID(nodeID))
	if !ok {
		t.Fatalf("node %s has no container runtime", nodeID)
	}
	ids, err := containertest.InstanceContainersOf(t.Context(), dc, rt.(*container.Runtime), nodeID)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// eventually retries f until it returns "" or 30s pass; f returns what is
// still wrong.
func eventually(t *testing.T, f func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDocker_StartPatchStop(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	orc := startOrc(t)
	n, dc := dockerNode(t, orc.url, func(c *config.Config) { c.Telemetry.PerformanceSamples = true })
	nodeID := n.cfg.General.NodeID

	reg := orc.waitFor(t, nodeID, 1)[0]
	if got := reg.GetCapabilities().GetRuntimes(); len(got) != 1 || got[0] != "CONTAINER" {
		t.Errorf("registered runtimes = %q, want [CONTAINER]", got)
	}
	if g := n.urls.GuestAPIHost; strings.Contains(g, "0.0.0.0") || strings.HasSuffix(g, ":0") {
		t.Errorf("guest API host = %q, want the function network's gateway and the bound port", g)
	}
	if !strings.Contains(n.logs.String(), `"msg":"guest API host chosen","node":"`+nodeID+`","url":"`+n.urls.GuestAPIHost) {
		t.Errorf("the log does not say which guest API host was chosen")
	}

	stateID := uuid.NewString()
	a := n.startFn(t, image, stateID)
	b := n.startFn(t, image, uuid.NewString())
	if got := containers(t, dc, nodeID); len(got) != 2 {
		t.Errorf("containers of the node = %d, want 2", len(got))
	}
	list := n.instances(t)
	if len(list) != 2 {
		t.Fatalf("admin instances = %+v, want 2", list)
	}
	for _, in := range list {
		if in.Image != image || in.ContainerName != "edgeless-"+in.FunctionID || in.State != "running" || in.ContainerID == "" {
			t.Errorf("instance = %+v, want running, image %s, container edgeless-<function id>", in, image)
		}
	}

	// Patch wires A's output "out" to B.
	n.patch(t, a, map[string]*edgelessapi.InstanceId{"out": n.instanceID(b)})
	if got := n.call(t, a, "recall out hello"); got != "hello" {
		t.Errorf("A: recall out hello = %q, want B's echo %q", got, "hello")
	}
	if got := n.call(t, a, "self"); got != nodeID+" "+a {
		t.Errorf("A: self = %q, want %q", got, nodeID+" "+a)
	}
	// A function's TelemetryLog lands in the node's log with its instance.
	n.call(t, a, "log my-target written by the function")
	if logs := n.logs.String(); !strings.Contains(logs, `"msg":"written by the function","node":"`+nodeID+`","instance":"`+a+`","target":"my-target"`) {
		t.Errorf("node log lacks the function's log line with its instance id")
	}

	// With performance_samples, the orchestrator gets the instances'
	// start times and their log entries.
	eventually(t, func() string {
		var inst, logs bool
		for _, r := range orc.waitFor(t, nodeID, 1) {
			for _, s := range r.GetPerformanceSamples().GetFunctionInstantiateTimes() {
				inst = inst || (s.GetId() == a && len(s.GetSamples()) == 1)
			}
			for _, e := range r.GetPerformanceSamples().GetFunctionLogEntries() {
				logs = logs || (e.GetId() == a && e.GetEntries()[0].GetMsg() == "written by the function")
			}
		}
		if !inst || !logs {
			return "the orchestrator did not get A's instantiate time and log entry in performance_samples"
		}
		return ""
	})

	// State survives a restart of the instance.
	if got := n.call(t, a, "sync v1"); got != "ok" {
		t.Fatalf("A: sync v1 = %q", got)
	}
	n.stopFn(t, a)
	n.stopFn(t, a) // idempotent
	if got := containers(t, dc, nodeID); len(got) != 1 {
		t.Errorf("containers after Stop = %d, want 1", len(got))
	}
	a2 := n.startFn(t, image, stateID)
	if got := n.call(t, a2, "state"); got != "v1" {
		t.Errorf("state of the restarted instance = %q, want v1", got)
	}

	// A missing image is reported at Start, with the image's name.
	res, err := n.fi.Start(t.Context(), &edgelessapi.SpawnFunctionRequest{
		Code:               &edgelessapi.FunctionClassSpecification{Id: "x", FunctionType: "CONTAINER", Code: "container:edgeless-no-such-image:none"},
		StateSpecification: &edgelessapi.StateSpecification{StateId: uuid.NewString()},
	})
	if err != nil || !strings.Contains(res.GetResponseError().GetDetail(), "edgeless-no-such-image:none") {
		t.Errorf("Start(missing image) = %v, %v; want a ResponseError naming the image", res, err)
	}

	n.stopFn(t, a2)
	n.stopFn(t, b)
	if got := containers(t, dc, nodeID); len(got) != 0 {
		t.Errorf("containers after stopping everything = %v, want none", got)
	}
}

func TestDocker_TwoNodesExchangeEvents(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	n1, _ := dockerNode(t, "")
	n2, _ := dockerNode(t, "")
	id2 := n2.cfg.General.NodeID
	// Wire the peers as the orchestrator does (each node also gets itself).
	for _, n := range []*testNode{n1, n2} {
		for _, p := range []*testNode{n1, n2} {
			pid, url := p.cfg.General.NodeID, p.urls.InvocationAnnounced
			if _, err := n.nm.UpdatePeers(t.Context(), &edgelessapi.UpdatePeersRequest{
				RequestType: edgelessapi.UpdatePeersRequestType_ADD, NodeId: &pid, InvocationUrl: &url}); err != nil {
				t.Fatalf("UpdatePeers(ADD %s) = %v", pid, err)
			}
		}
	}
	a := n1.startFn(t, image, uuid.NewString())
	b := n2.startFn(t, image, uuid.NewString())
	n1.patch(t, a, map[string]*edgelessapi.InstanceId{"out": n2.instanceID(b)})
	n2.patch(t, b, map[string]*edgelessapi.InstanceId{"back": n1.instanceID(a)})

	for _, tt := range []struct {
		name string
		n    *testNode
		fn   string
		msg  string
		want string
	}{
		{"call node1 -> node2", n1, a, "recall out hello", "hello"},
		{"call node2 -> node1", n2, b, "recall back ping", "ping"},
		{"callraw node1 -> node2", n1, a, "callraw " + id2 + " " + b + " raw hi", "raw hi"},
		{"nested A -> B -> A", n1, a, "recall out recall back deep", "deep"},
		{"unicode payload", n1, a, "recall out grüße ✓", "grüße ✓"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.call(t, tt.fn, tt.msg); got != tt.want {
				t.Errorf("%s: %q = %q, want %q", tt.name, tt.msg, got, tt.want)
			}
		})
	}

	// A cast crosses too: B runs the cast "sync from-a", observable as its state.
	if got := n1.call(t, a, "recast out sync from-a"); got != "ok" {
		t.Fatalf("recast = %q", got)
	}
	eventually(t, func() string {
		if got := n2.call(t, b, "state"); got != "from-a" {
			return "B's state = " + got + ", want from-a (the cast from node 1 did not arrive)"
		}
		return ""
	})
	if got := n1.call(t, a, "castraw "+id2+" "+b+" sync raw-cast"); got != "ok" {
		t.Fatalf("castraw = %q", got)
	}
	eventually(t, func() string {
		if got := n2.call(t, b, "state"); got != "raw-cast" {
			return "B's state = " + got + ", want raw-cast"
		}
		return ""
	})
}

func TestDocker_ShutdownRemovesContainers(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	n, dc := dockerNode(t, "")
	n.startFn(t, image, uuid.NewString())
	n.startFn(t, image, uuid.NewString())
	if got := containers(t, dc, n.cfg.General.NodeID); len(got) != 2 {
		t.Fatalf("containers = %d, want 2", len(got))
	}
	if err := n.shutdown(); err != nil {
		t.Fatalf("Serve() = %v", err)
	}
	if got := containers(t, dc, n.cfg.General.NodeID); len(got) != 0 {
		t.Errorf("containers left after shutdown = %v, want none", got)
	}
}

func TestDocker_ContainerExit(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	n, _ := dockerNode(t, "")
	a := n.startFn(t, image, uuid.NewString())
	n.admin(t, "POST", "/admin/v1/instances/"+a+"/call", "exit 3")
	eventually(t, func() string {
		if l := n.instances(t); len(l) != 1 || l[0].State != "exited" {
			return "instance did not become exited"
		}
		return ""
	})
	res, err := http.Get(n.urls.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `edgeless_node_container_exits_total{reason="exited"} 1`) ||
		!strings.Contains(string(body), `edgeless_node_instances{state="exited"} 1`) {
		t.Errorf("metrics lack the exit:\n%s", grep(string(body), "edgeless_node_"))
	}
	n.stopFn(t, a)
	if l := n.instances(t); len(l) != 0 {
		t.Errorf("instances after Stop = %+v, want none", l)
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
