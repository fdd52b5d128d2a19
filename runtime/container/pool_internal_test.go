package container

import (
	"log/slog"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// TestPool_TakenTrackedUntilRegistered: for Reconcile, a container a
// Start took is the pool's until afterTake and the registry's from then
// on, never neither while its instance lives; once the instance left the
// registry it is nobody's (no Docker: the pool's books only).
func TestPool_TakenTrackedUntilRegistered(t *testing.T) {
	const nodeID = "6f1c1f55-8a43-4d55-9d0e-0d6b3c1f4e21"
	r := &Runtime{cfg: Config{NodeID: nodeID}, log: slog.Default()}
	p := &pool{rt: r, idle: map[string][]*pooled{}, warming: map[string]int{}, all: map[*pooled]struct{}{},
		failures: map[string]int{}, notUntil: map[string]time.Time{}, taken: map[string]struct{}{}}
	r.pool = p
	spec := &poolSpec{key: "k", image: "img"}
	pd := &pooled{spec: spec, imageID: "sha256:1", h: newContainerHandle(nil, "edgeless-pool-x", "img", newOutputRing(1), false, slog.Default())}
	pd.h.id = "c1"
	p.all[pd] = struct{}{}
	p.idle[spec.key] = []*pooled{pd}
	p.count = 1
	if !r.tracksPooled("c1") {
		t.Fatal("an idle container is not the pool's")
	}

	if got := p.take("k", "sha256:1"); got != pd {
		t.Fatalf("take = %v, want the idle container", got)
	}
	if !r.tracksPooled("c1") {
		t.Fatal("a taken container is nobody's before its instance registered")
	}
	i := &Instance{rt: r, id: contract.InstanceID{NodeID: nodeID, FunctionID: "0b7f5a4e-2f7c-4b55-a1a5-6a8f3d2c9e10"}, ctr: pd.h, pooled: pd}
	if err := r.register(i); err != nil {
		t.Fatal(err)
	}
	r.afterTake(i)
	if _, held := p.taken["c1"]; held {
		t.Fatal("afterTake left the container in the pool's taken set")
	}
	if !r.tracksPooled("c1") {
		t.Fatal("a taken container is nobody's after its instance registered")
	}
	r.instances.Delete(i.id)
	if r.tracksPooled("c1") {
		t.Fatal("a taken container whose instance is gone is still tracked")
	}
	if s := p.stats(); s.Idle != 0 {
		t.Fatalf("stats after the take = %+v, want no idle container", s)
	}
}
