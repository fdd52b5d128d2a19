package container_test

import (
	"context"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/edgeless-go/edgeless/runtime/container"
)

// A function that answered Stop has done its own clean-up: one that then
// exits neither by itself nor on SIGTERM (upstream's templates do not exit
// on Stop) is removed without waiting out the whole StopGrace.
func TestContainer_StopAnsweredDoesNotWaitOutTheGrace(t *testing.T) {
	t.Parallel()
	buildFakeImages(t)
	// A grace far beyond the Stop deadline below: Stop can only succeed
	// in time if an answered Stop cuts the grace short.
	n, _, c := dockerNode(t, func(cfg *container.Config) { cfg.StopGrace = 10 * time.Minute })
	inst := n.start(t, n.spec("container:"+stubbornImage))
	id := inst.Info().ContainerID
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("Stop of a function that answered Stop but ignores SIGTERM: %v", err)
	}
	if !loggedLine(inst.Logs(), "Stop received") {
		t.Errorf("Logs() = %+v, want the function's Stop", inst.Logs())
	}
	if _, err := c.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("container after Stop: inspect err = %v, want not found", err)
	}
	wantNoContainers(t, c, n.id)
}

// A function that does not answer Stop gets SIGTERM and the whole
// StopGrace before it is killed and removed.
func TestContainer_StopUnansweredGetsTheGrace(t *testing.T) {
	t.Parallel()
	buildFakeImages(t)
	const stopTimeout, grace = 300 * time.Millisecond, 2 * time.Second
	n, _, c := dockerNode(t, func(cfg *container.Config) {
		cfg.StopTimeout = stopTimeout
		cfg.StopGrace = grace
	})
	inst := n.start(t, n.spec("container:"+stubbornStopHangsImage))
	id := inst.Info().ContainerID
	t0 := time.Now()
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// A lower bound only: Stop waits for the Stop RPC's deadline, then
	// for the grace after SIGTERM, which this function ignores.
	if d := time.Since(t0); d < stopTimeout+grace {
		t.Errorf("Stop took %v, want at least StopTimeout+StopGrace = %v (the grace cut short?)", d, stopTimeout+grace)
	}
	if !loggedLine(inst.Logs(), "Stop received") {
		t.Errorf("Logs() = %+v, want the function's Stop", inst.Logs())
	}
	if _, err := c.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("container after Stop: inspect err = %v, want not found", err)
	}
	wantNoContainers(t, c, n.id)
}
