package cli

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/daemon"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// A second node of the machine registers with the box's orchestrator; a
// workflow placed across both nodes exchanges events through the data plane
// (FunctionInvocation) and stops cleanly on both.
func TestE2E_SecondNodeJoins(t *testing.T) {
	t.Parallel()
	exampleImages(t)
	box := startBox(t)
	url := box.ControllerURL

	cfg, stateDir, err := demoConfig()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	n2 := cfg.Node
	n2.General.NodeRegisterURL = box.RegisterURL
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
	out := mustCLI(t, url, "node", "list")
	if !strings.Contains(out, box.NodeID) || !strings.Contains(out, n2.General.NodeID) || strings.Count(out, "ready") != 2 {
		t.Errorf("node list does not show both nodes ready:\n%s", out)
	}

	// ticker and sink on the second node, transformer on the box's: every
	// event crosses nodes twice.
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
	id := startFile(t, url, path)
	want := map[string]string{"sink": n2.General.NodeID, "transformer": box.NodeID, "ticker": n2.General.NodeID}
	for _, f := range inspect(t, url, id).Functions {
		if f.NodeID != want[f.Name] || f.State != "running" {
			t.Errorf("%s on node %s (%s), want running on %s", f.Name, f.NodeID, f.State, want[f.Name])
		}
	}
	eventually(t, "ticks cross the nodes to the sink", func() bool {
		out, err := runCLI(t, url, "function", "call", id, "sink", "count")
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return err == nil && n >= 3
	})
	mustCLI(t, url, "workflow", "stop", id)
	for _, node := range []string{box.NodeID, n2.General.NodeID} {
		ids, err := containertest.NodeContainers(t.Context(), containertest.RequireDocker(t), node)
		if err != nil || len(ids) != 0 {
			t.Errorf("node %s: containers %v (%v) after stop, want none", node, ids, err)
		}
	}
	var nodes []adminapi.NodeInfo
	c, _ := newController(url, security{})
	if err := c.admin.Get(t.Context(), "/admin/v1/nodes", &nodes); err != nil || len(nodes) != 2 {
		t.Errorf("admin nodes = %v, %v", nodes, err)
	}
}
