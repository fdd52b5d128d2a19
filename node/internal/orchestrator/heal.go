package orchestrator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// AnnotationRestartPolicy is the workflow annotation that says what happens
// to a function whose instance crashes: "always" (the default) starts a
// replacement; "never" marks the function failed. Instances of a lost node
// are re-placed either way: that is not the function's fault.
const AnnotationRestartPolicy = "restart_policy"

// The kinds of replacement.
const (
	kindRestart = "restart" // the instance crashed
	kindMove    = "move"    // the instance's node was lost
)

// fnHealth is the self-healing state of one function of a workflow.
// Guarded by Orchestrator.mu.
type fnHealth struct {
	// state is one of the adminapi.Health* constants.
	state string
	// reason says why the function last crashed, moved or failed.
	reason      string
	restarts    int
	moves       int
	lastRestart time.Time
	// streak counts the crashes in a row (reset by a run of StableAfter).
	streak int
	// since is when the current crash or loss was noticed.
	since time.Time
	// kind is the pending replacement's kind (restarting, moving, waiting).
	kind string
}

// restartNever reports whether a workflow's restart_policy is "never", or
// an error naming a value that is neither "always" nor "never".
func restartNever(req *edgelessapi.SpawnWorkflowRequest) (bool, error) {
	switch v := req.GetAnnotations()[AnnotationRestartPolicy]; v {
	case "", "always":
		return false, nil
	case "never":
		return true, nil
	default:
		return false, fmt.Errorf("annotations[%s] = %q: want \"always\" or \"never\"", AnnotationRestartPolicy, v)
	}
}

// backoff is the wait before the restart that follows the streak-th crash
// in a row: RestartBackoff doubled for each earlier crash, at most
// RestartBackoffMax.
func (o *Orchestrator) backoff(streak int) time.Duration {
	d := o.cfg.RestartBackoff
	for i := 1; i < streak && d < o.cfg.RestartBackoffMax; i++ {
		d *= 2
	}
	return min(d, o.cfg.RestartBackoffMax)
}

// findInstanceLocked returns the running workflow and instance with this
// function id on this node incarnation, or nils.
func (o *Orchestrator) findInstanceLocked(nodeID string, incarnation uint64, functionID string) (*workflowRecord, *instance) {
	for _, rec := range o.workflows {
		for _, in := range rec.funcs {
			if in.functionID == functionID && in.nodeID == nodeID && in.incarnation == incarnation {
				return rec, in
			}
		}
	}
	return nil, nil
}

// currentLocked returns the instance that now stands for the function
// named name.
func (r *workflowRecord) currentLocked(name string) *instance {
	for _, in := range r.funcs {
		if in.name == name {
			return in
		}
	}
	return nil
}

// instanceExited handles a node's report that an instance ended on its own.
func (o *Orchestrator) instanceExited(n *node, ex adminapi.Exit) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec, in := o.findInstanceLocked(n.id, n.incarnation, ex.FunctionID)
	if rec == nil {
		o.log.Debug("an instance no workflow owns ended", "node", n.id, "instance", ex.FunctionID, "reason", ex.Describe())
		return
	}
	h := rec.health[in.name]
	if h.state != adminapi.HealthRunning || rec.stopped {
		return
	}
	o.event(rec, adminapi.Event{Type: adminapi.EventCrashed, Function: in.name, FunctionID: in.functionID, NodeID: in.nodeID,
		Reason: ex.Describe(), Restarts: h.restarts})
	o.crashedLocked(rec, in, time.Since(in.startedAt) >= o.cfg.StableAfter, ex.Describe())
}

// crashedLocked counts a crash of old (or a failed start of its
// replacement) and either schedules the next replacement after the backoff
// or marks the function failed.
func (o *Orchestrator) crashedLocked(rec *workflowRecord, old *instance, stable bool, reason string) {
	h := rec.health[old.name]
	now := time.Now()
	if stable {
		h.streak = 0
	}
	h.streak++
	h.reason = reason
	if h.state == adminapi.HealthRunning {
		h.since = now
	}
	if never, _ := restartNever(rec.req); never {
		h.state = adminapi.HealthFailed
		h.reason = reason + `; not restarted: the workflow's restart_policy is "never"`
		o.event(rec, adminapi.Event{Type: adminapi.EventFailed, Function: old.name, FunctionID: old.functionID, NodeID: old.nodeID,
			Reason: h.reason, Restarts: h.restarts})
		return
	}
	if h.streak > o.cfg.CrashLoopLimit {
		h.state = adminapi.HealthFailed
		h.reason = fmt.Sprintf("crash loop: %d crashes in a row (limit %d), the last: %s", h.streak, o.cfg.CrashLoopLimit, reason)
		o.event(rec, adminapi.Event{Type: adminapi.EventFailed, Function: old.name, FunctionID: old.functionID, NodeID: old.nodeID,
			Reason: h.reason, Restarts: h.restarts})
		return
	}
	h.state, h.kind = adminapi.HealthRestarting, kindRestart
	d := o.backoff(h.streak)
	o.event(rec, adminapi.Event{Type: adminapi.EventRestarting, Function: old.name, FunctionID: old.functionID, NodeID: old.nodeID,
		Reason: reason, Restarts: h.restarts, DelayMS: ms(d)})
	o.goLocked(func(ctx context.Context) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			o.replace(ctx, rec, old, kindRestart)
		case <-ctx.Done():
		}
	})
}

// goLocked runs f on a goroutine the Orchestrator waits for at Close,
// unless it is closing (o.mu held, so that Close cannot be between its
// cancel and its Wait).
func (o *Orchestrator) goLocked(f func(ctx context.Context)) {
	if o.ctx.Err() != nil {
		return
	}
	o.wg.Go(func() { f(o.ctx) })
}

// nodeLostLocked schedules the re-placement of every instance that was on
// n (o.mu held; n is already out of the registry).
func (o *Orchestrator) nodeLostLocked(n *node, why string) {
	for _, rec := range o.workflows {
		for _, in := range rec.funcs {
			if in.nodeID != n.id || in.incarnation != n.incarnation || rec.stopped {
				continue
			}
			h := rec.health[in.name]
			if h.state == adminapi.HealthFailed {
				continue
			}
			h.state, h.kind = adminapi.HealthMoving, kindMove
			h.reason = fmt.Sprintf("node %s %s", n.id, why)
			h.since = time.Now()
			o.event(rec, adminapi.Event{Type: adminapi.EventNodeLost, Function: in.name, FunctionID: in.functionID, NodeID: n.id,
				Reason: h.reason, Restarts: h.restarts})
			o.goLocked(func(ctx context.Context) { o.replace(ctx, rec, in, kindMove) })
		}
	}
}

// retryWaitingLocked schedules again the replacements that found no node
// (o.mu held): a node has just become ready.
func (o *Orchestrator) retryWaitingLocked() {
	for _, rec := range o.workflows {
		for name, h := range rec.health {
			if h.state != adminapi.HealthWaiting {
				continue
			}
			old, kind := rec.currentLocked(name), h.kind
			h.state = adminapi.HealthMoving
			if kind == kindRestart {
				h.state = adminapi.HealthRestarting
			}
			o.goLocked(func(ctx context.Context) { o.replace(ctx, rec, old, kind) })
		}
	}
}

// replace starts a replacement of old, the instance that stands for one
// function of rec, and re-wires the workflow: the replacement gets the
// function's output mapping, and every instance whose outputs pointed at
// old is patched to point at it. The replacement keeps the function's
// state id, so that on the same node Init gets the state of the last Sync.
// It does nothing if old has been replaced already or the workflow has
// stopped.
func (o *Orchestrator) replace(ctx context.Context, rec *workflowRecord, old *instance, kind string) {
	rec.healMu.Lock()
	defer rec.healMu.Unlock()
	o.mu.Lock()
	h := rec.health[old.name]
	if rec.stopped || rec.currentLocked(old.name) != old || ctx.Err() != nil {
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	log := o.log.With("workflow", rec.id, old.kind(), old.name)

	// The crashed instance's container is removed (a lost node has nothing
	// to stop): nothing of it must run beside its replacement.
	if err := o.stopInstance(ctx, old); err != nil {
		log.Warn("cannot stop the instance being replaced", "node", old.nodeID, "instance", old.functionID, "err", err)
	}
	n, err := o.placeReplacement(rec, old)
	if err != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		h.state, h.reason = adminapi.HealthWaiting, err.Error()
		o.event(rec, adminapi.Event{Type: adminapi.EventWaiting, Function: old.name, FunctionID: old.functionID, Reason: h.reason, Restarts: h.restarts})
		return
	}
	t0 := time.Now()
	var in *instance
	if old.resource {
		in, err = o.startResource(ctx, rec.id, rec.resource(old.name), n)
	} else {
		in, err = o.startFunction(ctx, rec.id, rec.function(old.name), n, old.stateID)
	}
	if err != nil {
		if in != nil {
			if serr := o.stopInstance(context.WithoutCancel(ctx), in); serr != nil {
				log.Error("cannot stop a replacement that failed to start", "node", n.id, "instance", in.functionID, "err", serr)
			}
			o.forgetLogs([]*instance{in})
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if rec.stopped {
			return
		}
		// A replacement that does not start counts as a crash in a row.
		o.crashedLocked(rec, old, false, fmt.Sprintf("replacement on node %s did not start: %v", n.id, err))
		return
	}

	o.mu.Lock()
	if rec.stopped || ctx.Err() != nil {
		o.mu.Unlock()
		if err := o.stopInstance(context.WithoutCancel(ctx), in); err != nil {
			log.Error("cannot stop the replacement of a stopped workflow", "node", n.id, "instance", in.functionID, "err", err)
		}
		o.forgetLogs([]*instance{in})
		return
	}
	funcs := slices.Clone(rec.funcs)
	funcs[slices.Index(funcs, old)] = in
	rec.funcs = funcs
	h.state, h.lastRestart = adminapi.HealthRunning, t0
	typ := adminapi.EventRestarted
	if kind == kindMove {
		h.moves++
		typ = adminapi.EventMoved
	} else {
		h.restarts++
	}
	since := h.since
	o.mu.Unlock()

	if err := o.patchFuncs(ctx, rec.req, funcs, func(name string, outputs map[string]string) bool {
		return name == old.name || slices.Contains(slices.Collect(maps.Values(outputs)), old.name)
	}, true); err != nil {
		log.Warn("re-wiring after a replacement", "err", err)
	}
	o.forgetLogs([]*instance{old})
	o.mu.Lock()
	restarts := h.restarts
	o.mu.Unlock()
	o.event(rec, adminapi.Event{Type: typ, Function: in.name, FunctionID: in.functionID, NodeID: in.nodeID,
		Restarts: restarts, DurationMS: ms(time.Since(since))})
}

// placeReplacement chooses the node of a replacement: the old instance's
// node while it is registered and fits (a function's NodeLocal state is
// there), else by the placement rules of functions or of resources.
func (o *Orchestrator) placeReplacement(rec *workflowRecord, old *instance) (*node, error) {
	f, r := rec.function(old.name), rec.resource(old.name)
	o.mu.Lock()
	if n := o.nodes[old.nodeID]; n != nil && n.incarnation == old.incarnation {
		if (old.resource && unfitResource(n, r.GetClassType()) == "") || (!old.resource && unfit(n, f) == "") {
			o.mu.Unlock()
			return n, nil
		}
	}
	o.mu.Unlock()
	var ns []*node
	var err error
	if old.resource {
		ns, err = o.placeResources([]*edgelessapi.WorkflowResource{r}, nil)
	} else {
		ns, err = o.place([]*edgelessapi.WorkflowFunction{f})
	}
	if err != nil {
		return nil, err
	}
	return ns[0], nil
}
