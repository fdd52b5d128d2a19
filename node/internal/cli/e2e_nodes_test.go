package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/daemon"
	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// A second node of the machine registers with the box's orchestrator; a
// workflow placed across both nodes exchanges events through the data plane
// (FunctionInvocation) and stops cleanly on both.
func TestE2E_SecondNodeJoins(t *testing.T) {
	t.Parallel()
	exampleImages(t)
	box := startBox(t)
	n2 := startSecondNode(t, box, func(*config.Config) {})
	cli := func(args ...string) (string, error) { return runCLI(t, box.ControllerURL, args...) }
	acrossTwoNodes(t, box, n2, cli)
	var nodes []adminapi.NodeInfo
	c, _ := newController(box.ControllerURL, security{})
	if err := c.admin.Get(t.Context(), "/admin/v1/nodes", &nodes); err != nil || len(nodes) != 2 {
		t.Errorf("admin nodes = %v, %v", nodes, err)
	}
}

// The same across two nodes and in-a-box with mutual TLS on every hop
// (registration, orchestrator to agents, data plane between the nodes, CLI
// to the controller and, through it, to the nodes' admin APIs), while the
// guest API to the containers stays plain text (they boot and serve).
func TestE2E_MutualTLSAcrossTwoNodes(t *testing.T) {
	t.Parallel()
	exampleImages(t)
	dom := transporttest.Domain(t)
	box, _ := startBoxWith(t, func(c *inabox.Config) {
		c.Node.Security.TLSConfig = filepath.Join(dom, "tls_config_orchestrator.toml")
	})
	n2 := startSecondNode(t, box, func(c *config.Config) {
		c.Security.TLSConfig = filepath.Join(dom, "tls_config_node.toml")
	})
	for _, u := range []string{box.ControllerURL, box.RegisterURL, box.Node.AgentAnnounced, box.Node.InvocationAnnounced} {
		if !strings.HasPrefix(u, "https://") {
			t.Errorf("box URL %q, want https://", u)
		}
	}
	cliTLS := filepath.Join(dom, "tls_config_cli.toml")
	cli := func(args ...string) (string, error) {
		return runCLI(t, box.ControllerURL, append([]string{"--tls-config", cliTLS}, args...)...)
	}
	acrossTwoNodes(t, box, n2, cli)

	// Without the CLI's certificate nothing is served, and the error says
	// why.
	if _, err := runCLI(t, box.ControllerURL, "workflow", "list"); err == nil || !strings.Contains(err.Error(), "https needs a TLS client config") {
		t.Errorf("workflow list without a TLS config = %v, want an error asking for one", err)
	}
	plainURL := "http://" + strings.TrimPrefix(box.ControllerURL, "https://")
	if _, err := runCLI(t, plainURL, "workflow", "list"); err == nil || !strings.Contains(err.Error(), "the server speaks TLS") {
		t.Errorf("workflow list in plain text = %v, want an error saying the server speaks TLS", err)
	}
	other := transporttest.Domain(t)
	if _, err := runCLI(t, box.ControllerURL, "--tls-config", filepath.Join(other, "tls_config_cli.toml"), "workflow", "list"); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("workflow list with another domain's certificates = %v, want a certificate error", err)
	}
}

// startSecondNode runs a node of the machine (changed by set) that
// registers with box, until the test ends, and waits until it is ready.
func startSecondNode(t *testing.T, box *inabox.Box, set func(*config.Config)) *config.Config {
	t.Helper()
	cfg, stateDir, err := demoConfig()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	n2 := cfg.Node
	n2.General.NodeRegisterURL = box.RegisterURL
	set(n2)
	containertest.CleanupNode(t, n2.General.NodeID)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, n2, slog.New(slog.NewTextHandler(t.Output(), nil)).With("node", "second"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("second node: %v", err)
		}
	})
	rctx, rcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer rcancel()
	if err := box.Orchestrator.WaitNodeReady(rctx, n2.General.NodeID); err != nil {
		t.Fatal(err)
	}
	return n2
}

// acrossTwoNodes runs, through cli, a workflow whose ticker and sink are on
// n2 and transformer on the box's node, so that every event crosses the
// nodes twice; it stops it and checks that no container is left.
func acrossTwoNodes(t *testing.T, box *inabox.Box, n2 *config.Config, cli func(args ...string) (string, error)) {
	t.Helper()
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("edgeless %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	out := must("node", "list")
	if !strings.Contains(out, box.NodeID) || !strings.Contains(out, n2.General.NodeID) || strings.Count(out, "ready") != 2 {
		t.Errorf("node list does not show both nodes ready:\n%s", out)
	}

	pin := func(node string) string { return `{ "node_id_match_any": "` + node + `" }` }
	path := writeFile(t, "two-nodes.json", `{
  "functions": [
    { "name": "sink", "class_specification": { "id": "sink", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:`+ExampleTag("sink")+`", "outputs": [] },
      "output_mapping": {}, "annotations": `+pin(n2.General.NodeID)+` },
    { "name": "transformer", "class_specification": { "id": "transformer", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:`+ExampleTag("transformer")+`", "outputs": ["output"] },
      "output_mapping": { "output": "sink" }, "annotations": `+pin(box.NodeID)+` },
    { "name": "ticker", "class_specification": { "id": "ticker", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:`+ExampleTag("ticker")+`", "outputs": ["output"] },
      "output_mapping": { "output": "transformer" },
      "annotations": { "init-payload": "period-ms=200", "node_id_match_any": "`+n2.General.NodeID+`" } }
  ],
  "resources": [], "annotations": {}
}`)
	id := strings.TrimSpace(must("workflow", "start", "--quiet", path))
	var v WorkflowView
	if err := jsonUnmarshal(must("workflow", "inspect", "-o", "json", id), &v); err != nil {
		t.Fatalf("inspect output: %v", err)
	}
	want := map[string]string{"sink": n2.General.NodeID, "transformer": box.NodeID, "ticker": n2.General.NodeID}
	for _, f := range v.Functions {
		if f.NodeID != want[f.Name] || f.State != "running" {
			t.Errorf("%s on node %s (%s), want running on %s", f.Name, f.NodeID, f.State, want[f.Name])
		}
	}
	eventually(t, "ticks cross the nodes to the sink", func() bool {
		out, err := cli("function", "call", id, "sink", "count")
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return err == nil && n >= 3
	})
	must("workflow", "stop", id)
	for _, node := range []string{box.NodeID, n2.General.NodeID} {
		ids, err := containertest.InstanceContainers(t.Context(), containertest.RequireDocker(t), node)
		if err != nil || len(ids) != 0 {
			t.Errorf("node %s: containers %v (%v) after stop, want none", node, ids, err)
		}
	}
}
