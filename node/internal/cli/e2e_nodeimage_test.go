package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/nodeimage"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/google/uuid"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// TestE2E_NodeImage runs the node's image as an operator would (engine
// socket mounted, host network, state in a mounted directory, config from
// environment variables) against an in-a-box orchestrator on the host: the
// example workflow's events flow through the containerised node; SIGTERM to
// the node's container leaves no function container; a new container with
// the same state keeps the node id, and so reaps what a killed one left.
func TestE2E_NodeImage(t *testing.T) {
	t.Parallel()
	dc := containertest.RequireDocker(t)
	dir := exampleImages(t)
	tag := "edgeless-node-test-" + uuid.NewString()[:8] + ":dev"
	bin, err := nodeBinary(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := nodeimage.Build(ctx, dc, tag, bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := dc.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", tag, err)
		}
	})
	box := startBox(t)
	url := box.ControllerURL
	state := t.TempDir()

	// First start: the node makes its id and keeps it in the mounted state.
	n1 := runNodeContainer(t, dc, tag, state, box.RegisterURL)
	data, err := os.ReadFile(filepath.Join(state, "node-id"))
	if err != nil {
		t.Fatalf("node id file in the mounted state: %v", err)
	}
	nodeID := strings.TrimSpace(string(data))
	containertest.CleanupNode(t, nodeID)
	registered := waitRegistered(t, url, nodeID, time.Time{})

	wf := pinnedWorkflow(t, dir, nodeID)
	id := startFile(t, url, wf)
	for _, f := range inspect(t, url, id).Functions {
		if f.NodeID != nodeID || f.State != "running" {
			t.Errorf("inspect %s = %+v, want running on the image's node %s", f.Name, f, nodeID)
		}
	}
	sinkCounts(t, url, id)

	// SIGTERM: the node stops every instance and removes its container.
	if code := stopNodeContainer(t, dc, n1, "SIGTERM"); code != 0 {
		t.Errorf("node container exit code after SIGTERM = %d, want 0\n%s", code, containerLogs(t, dc, n1))
	}
	if ids, err := containertest.NodeContainers(t.Context(), dc, nodeID); err != nil || len(ids) != 0 {
		t.Errorf("function containers after the node's SIGTERM = %v, %v; want none", ids, err)
	}
	runCLI(t, url, "workflow", "stop", id)

	// Second container, same state: same node id; its instances are then
	// left behind by SIGKILL.
	n2 := runNodeContainer(t, dc, tag, state, box.RegisterURL)
	if got := loggedNodeID(t, dc, n2); got != nodeID {
		t.Errorf("restarted node id = %q, want the kept %q", got, nodeID)
	}
	waitRegistered(t, url, nodeID, registered)
	id2 := startFile(t, url, wf)
	sinkCounts(t, url, id2)
	stopNodeContainer(t, dc, n2, "SIGKILL")
	left, err := containertest.NodeContainers(t.Context(), dc, nodeID) // with the idle prewarmed ones
	if inst, ierr := containertest.InstanceContainers(t.Context(), dc, nodeID); err != nil || ierr != nil || len(inst) != 3 {
		t.Fatalf("function containers after SIGKILL = %v, %v, %v; want the workflow's 3", inst, err, ierr)
	}
	runCLI(t, url, "workflow", "stop", id2)

	// Third container, same state: it reaps the leftovers of its own id.
	n3 := runNodeContainer(t, dc, tag, state, box.RegisterURL)
	if got := loggedNodeID(t, dc, n3); got != nodeID {
		t.Errorf("restarted node id = %q, want the kept %q", got, nodeID)
	}
	eventually(t, "the restarted node removes the killed node's containers", func() bool {
		now, err := containertest.NodeContainers(t.Context(), dc, nodeID)
		return err == nil && !slices.ContainsFunc(left, func(c string) bool { return slices.Contains(now, c) })
	})
	if code := stopNodeContainer(t, dc, n3, "SIGTERM"); code != 0 {
		t.Errorf("node container exit code after SIGTERM = %d, want 0", code)
	}
}

// runNodeContainer starts the node image as the README tells operators to,
// with free ports on the host's loopback, and waits until the node runs.
func runNodeContainer(t *testing.T, dc *client.Client, image, state, registerURL string) string {
	t.Helper()
	name := "edgeless-node-test-" + uuid.NewString()[:12]
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		sock = strings.TrimPrefix(h, "unix://")
	}
	_, err := dc.ContainerCreate(t.Context(), client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: image,
			Env: []string{
				"NODE_REGISTER_URL=" + registerURL,
				"AGENT_HOST=127.0.0.1", "AGENT_PORT=0",
				"INVOCATION_HOST=127.0.0.1", "INVOCATION_PORT=0",
				"EDGELESS_TELEMETRY_METRICS_URL=",
				"GUEST_API_HOST_URL=http://0.0.0.0:0",
				"SUBSCRIPTION_REFRESH_INTERVAL_SEC=1",
				// No http-ingress: its fixed port would collide on the host network.
				"HTTP_INGRESS_PROVIDER=",
			},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "host",
			Binds:       []string{sock + ":/var/run/docker.sock", state + ":" + nodeimage.StateDir},
		},
	})
	if err != nil {
		t.Fatalf("create node container: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node container %s log:\n%s", name, containerLogs(t, dc, name))
		}
		dc.ContainerRemove(context.Background(), name, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := dc.ContainerStart(t.Context(), name, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start node container: %v", err)
	}
	eventually(t, "the node in container "+name+" runs", func() bool {
		return strings.Contains(containerLogs(t, dc, name), `"msg":"node running"`)
	})
	return name
}

// stopNodeContainer sends signal to the node's container, waits for it to
// exit and returns its exit code.
func stopNodeContainer(t *testing.T, dc *client.Client, name, signal string) int64 {
	t.Helper()
	wait := dc.ContainerWait(t.Context(), name, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	if _, err := dc.ContainerKill(t.Context(), name, client.ContainerKillOptions{Signal: signal}); err != nil {
		t.Fatalf("%s node container: %v", signal, err)
	}
	select {
	case res := <-wait.Result:
		return res.StatusCode
	case err := <-wait.Error:
		t.Fatalf("wait for node container: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("node container still running 2 minutes after %s", signal)
	}
	return -1
}

func containerLogs(t *testing.T, dc *client.Client, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := dc.ContainerLogs(ctx, name, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return fmt.Sprintf("(logs: %v)", err)
	}
	defer rc.Close()
	var b strings.Builder
	stdcopy.StdCopy(&b, &b, rc)
	return b.String()
}

// loggedNodeID returns the node id in the container's start-up log line.
func loggedNodeID(t *testing.T, dc *client.Client, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(containerLogs(t, dc, name), "\n") {
		var l struct {
			Msg    string `json:"msg"`
			NodeID string `json:"node_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "edgeless-node starting" {
			return l.NodeID
		}
	}
	return ""
}

// waitRegistered waits until the orchestrator lists a registration of
// nodeID made after prev (the zero time for the first) and has made it
// ready, and returns its registration time. A restarted node keeps its id:
// its old registration stays listed until the new one (a new nonce)
// replaces it, so seeing the id alone does not show the restart registered.
func waitRegistered(t *testing.T, url, nodeID string, prev time.Time) time.Time {
	t.Helper()
	var at time.Time
	eventually(t, "node "+nodeID+" registers anew and is ready", func() bool {
		out, err := runCLI(t, url, "node", "list", "-o", "json")
		var nodes []adminapi.NodeInfo
		if err != nil || json.Unmarshal([]byte(out), &nodes) != nil {
			return false
		}
		i := slices.IndexFunc(nodes, func(n adminapi.NodeInfo) bool { return n.NodeID == nodeID })
		if i < 0 || !nodes[i].RegisteredAt.After(prev) || nodes[i].Status != "ready" {
			return false
		}
		at = nodes[i].RegisteredAt
		return true
	})
	return at
}

// pinnedWorkflow writes the example workflow with every function pinned to
// nodeID (upstream's node_id_match_any annotation).
func pinnedWorkflow(t *testing.T, dir, nodeID string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "workflow.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wf map[string]any
	if err := json.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	for _, f := range wf["functions"].([]any) {
		f.(map[string]any)["annotations"].(map[string]any)["node_id_match_any"] = nodeID
	}
	out, _ := json.Marshal(wf)
	return writeFile(t, "workflow.json", string(out))
}

// sinkCounts waits until the sink has counted ticks.
func sinkCounts(t *testing.T, url, id string) {
	t.Helper()
	eventually(t, "the sink counts ticks", func() bool {
		out, err := runCLI(t, url, "function", "call", id, "sink", "count")
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return err == nil && n >= 2
	})
}
