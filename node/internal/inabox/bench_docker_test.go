package inabox

import (
	"context"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// BenchmarkRecovery measures the recovery from a crash with the default
// restart backoff: from `docker kill` of the callee of a two-function
// workflow to the first call through the caller answered again by the
// replacement (crash noticed, backoff, replacement started with its state,
// caller re-wired). It reports it as a ratio ("x-coldstart") to one cold
// start of the same function measured in the same run (the orchestrator's
// FunctionInstance.Start: create, boot, init). Each iteration uses a fresh
// workflow, so that every crash is a first one (no growing backoff).
func BenchmarkRecovery(b *testing.B) {
	image := containertest.BuildExampleImage(b)
	dc := containertest.RequireDocker(b)
	cfg := testBoxConfig(b)
	cfg.Orchestrator.RestartBackoffMS = Default().Orchestrator.RestartBackoffMS
	box := startTestBox(b, cfg)
	var recovery, cold time.Duration
	for i := 0; i < b.N; i++ {
		d := startWorkflow(b, box, chain(image, nil, "a", "b"))
		d.mustCall("a", "recall output ping", "ping")
		old := d.fn("b")
		cold += time.Duration(old.StartMS * float64(time.Millisecond))
		t0 := time.Now()
		killContainer(b, dc, old.FunctionID)
		for {
			if got, err := d.call("a", "recall output ping"); err == nil && got == "ping" && d.fn("b").FunctionID != old.FunctionID {
				break
			}
			if time.Since(t0) > 2*time.Minute {
				b.Fatalf("no recovery after two minutes: %+v", d.fn("b"))
			}
			time.Sleep(5 * time.Millisecond)
		}
		recovery += time.Since(t0)
		d.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n, _ := containertest.InstanceContainers(ctx, dc, box.NodeID); len(n) != 0 {
		b.Errorf("%d containers left", len(n))
	}
	n := float64(b.N)
	b.ReportMetric(float64(recovery.Milliseconds())/n, "recovery-ms")
	b.ReportMetric(float64(cold.Milliseconds())/n, "coldstart-ms")
	b.ReportMetric(float64(cfg.Orchestrator.RestartBackoffMS), "backoff-ms")
	b.ReportMetric(float64(recovery)/float64(cold), "x-coldstart")
}
