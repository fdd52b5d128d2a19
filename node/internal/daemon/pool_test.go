package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/containertest"
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
