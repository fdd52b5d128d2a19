package daemon

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// TestDocker_PrewarmPool: with prewarm_images, a Start takes the prewarmed
// container: the admin API's steps say "pool hit" and have no create
// step, the metrics count the hit and the refill, and the instance works.
func TestDocker_PrewarmPool(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	n, dc := dockerNode(t, "", func(c *config.Config) {
		c.ContainerRuntime.PrewarmImages = []string{image}
	})
	idle := func() string {
		if got, w := n.metric(t, "edgeless_node_prewarm_idle"), n.metric(t, "edgeless_node_prewarm_warming"); got != 1 || w != 0 {
			return fmt.Sprintf("prewarm idle, warming = %v, %v; want 1, 0", got, w)
		}
		return ""
	}
	eventually(t, idle)
	a := n.startFn(t, image, uuid.NewString())
	l := n.instances(t)
	if len(l) != 1 || !l[0].Steps.PoolHit || l[0].Steps.CreateMS != nil || l[0].Steps.BootMS == nil {
		t.Fatalf("admin instances = %+v, want one pool hit without a create step", l)
	}
	eventually(t, func() string { // renamed after the instance in the background
		if l := n.instances(t); len(l) != 1 || l[0].ContainerName != "edgeless-"+a {
			return fmt.Sprintf("admin instances = %+v, want container edgeless-%s", l, a)
		}
		return ""
	})
	if got := n.call(t, a, "self"); got != n.cfg.General.NodeID+" "+a {
		t.Errorf("self = %q, want %q", got, n.cfg.General.NodeID+" "+a)
	}
	if h, m := n.metric(t, "edgeless_node_prewarm_hits_total"), n.metric(t, "edgeless_node_prewarm_misses_total"); h != 1 || m != 0 {
		t.Errorf("prewarm hits, misses = %v, %v; want 1, 0", h, m)
	}
	eventually(t, idle) // refilled
	if !strings.Contains(n.logs.String(), `"create":0`) {
		t.Errorf("the node's start log line lacks create 0 for the hit")
	}
	n.stopFn(t, a)
	if got := containers(t, dc, n.cfg.General.NodeID); len(got) != 0 {
		t.Errorf("instance containers after Stop = %v, want none", got)
	}
}

// TestDocker_ServeFailsEarly: a Serve that fails before serving (here the
// agent's server cannot be built: a TLS config without a certificate)
// closes the runtimes it would have closed at shutdown: the prewarmed
// containers are gone when it returns, and the listeners are closed.
func TestDocker_ServeFailsEarly(t *testing.T) {
	t.Parallel()
	image := containertest.BuildExampleImage(t)
	dc := containertest.RequireDocker(t)
	cfg := testConfig(t, true, "")
	cfg.ContainerRuntime.PrewarmImages = []string{image}
	nodeID := config.CanonicalNodeID(cfg.General.NodeID)
	containertest.CleanupNode(t, nodeID)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := NewWithTLS(t.Context(), cfg, &transport.TLS{Server: &tls.Config{}}, log)
	if err != nil {
		t.Fatalf("NewWithTLS() = %v", err)
	}
	eventually(t, func() string { // the pool has a container to leave behind
		if ids, err := containertest.NodeContainers(t.Context(), dc, nodeID); err != nil || len(ids) == 0 {
			return fmt.Sprintf("no prewarmed container yet (%v)", err)
		}
		return ""
	})
	err = d.Serve(t.Context())
	if err == nil || !strings.Contains(err.Error(), "agent server") {
		t.Fatalf("Serve() = %v, want the agent server's error", err)
	}
	if ids, err := containertest.NodeContainers(t.Context(), dc, nodeID); err != nil || len(ids) != 0 {
		t.Errorf("containers of the node after Serve failed = %v (%v), want none", ids, err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(d.URLs().Agent, "https://"), time.Second); err == nil {
		c.Close()
		t.Errorf("agent listener %s still open after Serve failed", d.URLs().Agent)
	}
	if t.Failed() {
		t.Logf("node log:\n%s", logs.String())
	}
}
