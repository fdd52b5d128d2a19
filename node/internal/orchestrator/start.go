package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/workflow"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
)

// StartError says which function or resource made a workflow fail to
// start, and why.
type StartError struct {
	// Function is the function's (or resource's) name in the workflow.
	Function string
	// Resource is set when Function names a resource.
	Resource bool
	// Step is "start" (FunctionInstance.Start) or "patch" (wiring outputs).
	Step string
	// NodeID is the node it was placed on.
	NodeID string
	// Err is the cause, e.g. the node's ResponseError.
	Err error
}

// Error implements error.
func (e *StartError) Error() string {
	return fmt.Sprintf("%s %q: %s on node %s: %v", e.kind(), e.Function, e.Step, e.NodeID, e.Err)
}

func (e *StartError) kind() string {
	if e.Resource {
		return "resource"
	}
	return "function"
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// ResponseError is a node's StartComponentResponse.response_error.
type ResponseError struct {
	Summary, Detail string
}

// Error implements error.
func (e *ResponseError) Error() string {
	if e.Detail == "" {
		return e.Summary
	}
	return e.Summary + ": " + e.Detail
}

// StartWorkflow deploys a workflow: it validates it, places every function
// and resource, starts the functions one after the other in the workflow's
// order, then the resources (as upstream's controller), then patches every
// output mapping, the resources' included. progress, if not nil, is called
// (synchronously) at each step. If anything fails, the instances already
// started are stopped in reverse order and the error says which function
// or resource failed and why (*StartError, *PlacementError,
// *ResourcePlacementError or *workflow.ValidationError).
func (o *Orchestrator) StartWorkflow(ctx context.Context, req *edgelessapi.SpawnWorkflowRequest, progress func(adminapi.Progress)) (*edgelessapi.WorkflowInstanceStatus, error) {
	if progress == nil {
		progress = func(adminapi.Progress) {}
	}
	if err := workflow.Validate(req); err != nil {
		return nil, err
	}
	if _, err := restartNever(req); err != nil {
		return nil, &workflow.ValidationError{Problems: []string{err.Error()}}
	}
	fns := req.GetWorkflowFunctions()
	nodes, err := o.place(fns)
	if err != nil {
		return nil, err
	}
	rs := req.GetWorkflowResources()
	rnodes, err := o.placeResources(rs, nodes)
	if err != nil {
		return nil, err
	}
	rec := &workflowRecord{
		id:      uuid.NewString(),
		req:     proto.CloneOf(req),
		created: time.Now(),
		health:  map[string]*fnHealth{},
		events:  newEventLog(),
	}
	log := o.log.With("workflow", rec.id)
	log.Info("starting workflow", "functions", len(fns), "resources", resourceNames(rs))
	for _, w := range workflow.Warnings(req) {
		log.Warn("workflow: " + w)
	}
	fail := func(err error) (*edgelessapi.WorkflowInstanceStatus, error) {
		var se *StartError
		if errors.As(err, &se) {
			progress(adminapi.Progress{Type: adminapi.ProgressFailed, WorkflowID: rec.id, Function: se.Function, NodeID: se.NodeID, Error: se.Err.Error(), Resource: se.Resource})
		}
		log.Warn("workflow failed to start; stopping its started instances", "err", err, "started", len(rec.funcs))
		o.rollback(ctx, rec, progress)
		return nil, err
	}
	for i, f := range fns {
		n := nodes[i]
		progress(adminapi.Progress{Type: adminapi.ProgressPlaced, WorkflowID: rec.id, Function: f.GetName(), NodeID: n.id, Image: image(f)})
		// As upstream's controller: a fresh state id, node-local policy.
		in, err := o.startFunction(ctx, rec.id, f, n, uuid.NewString())
		if in != nil {
			rec.funcs = append(rec.funcs, in)
		}
		if err != nil {
			return fail(&StartError{Function: f.GetName(), Step: "start", NodeID: n.id, Err: err})
		}
		log.Info("function started", "function", f.GetName(), "node", n.id, "instance", in.functionID, "took", in.startDuration)
		steps := in.steps
		progress(adminapi.Progress{Type: adminapi.ProgressStarted, WorkflowID: rec.id, Function: f.GetName(), NodeID: n.id,
			FunctionID: in.functionID, Image: image(f), DurationMS: ms(in.startDuration), Steps: &steps})
	}
	for i, r := range rs {
		n := rnodes[i]
		progress(adminapi.Progress{Type: adminapi.ProgressPlaced, WorkflowID: rec.id, Function: r.GetName(), NodeID: n.id, Resource: true})
		in, err := o.startResource(ctx, rec.id, r, n)
		if in != nil {
			rec.funcs = append(rec.funcs, in)
		}
		if err != nil {
			return fail(&StartError{Function: r.GetName(), Resource: true, Step: "start", NodeID: n.id, Err: err})
		}
		log.Info("resource started", "resource", r.GetName(), "class_type", r.GetClassType(), "node", n.id, "instance", in.functionID, "took", in.startDuration)
		progress(adminapi.Progress{Type: adminapi.ProgressStarted, WorkflowID: rec.id, Function: r.GetName(), NodeID: n.id,
			FunctionID: in.functionID, DurationMS: ms(in.startDuration), Resource: true})
	}
	t0 := time.Now()
	if err := o.patchFuncs(ctx, rec.req, rec.funcs, nil, false); err != nil {
		return fail(err)
	}
	progress(adminapi.Progress{Type: adminapi.ProgressPatched, WorkflowID: rec.id, DurationMS: ms(time.Since(t0))})
	for _, in := range rec.funcs {
		rec.health[in.name] = &fnHealth{state: adminapi.HealthRunning}
		o.event(rec, adminapi.Event{Type: adminapi.EventStarted, Time: in.startedAt.Add(in.startDuration).UTC(),
			Function: in.name, FunctionID: in.functionID, NodeID: in.nodeID, DurationMS: ms(in.startDuration)})
	}
	funcs := rec.funcs
	o.mu.Lock()
	o.workflows[rec.id] = rec
	o.mu.Unlock()
	log.Info("workflow started")
	progress(adminapi.Progress{Type: adminapi.ProgressDone, WorkflowID: rec.id})
	return rec.status(o.cfg.DomainID, funcs), nil
}

// startFunction starts f on n. It returns the instance whenever one was
// created, even with an error, so that it gets stopped.
func (o *Orchestrator) startFunction(ctx context.Context, wfID string, f *edgelessapi.WorkflowFunction, n *node, stateID string) (*instance, error) {
	sctx, cancel := context.WithTimeout(ctx, o.cfg.StartTimeout)
	defer cancel()
	t0 := time.Now()
	resp, err := n.client.fi.Start(sctx, &edgelessapi.SpawnFunctionRequest{
		Code:               f.GetClassSpec(),
		Annotations:        f.GetAnnotations(),
		StateSpecification: &edgelessapi.StateSpecification{StateId: stateID, Policy: edgelessapi.StatePolicy_NODE_LOCAL},
		WorkflowId:         wfID,
	})
	took := time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("FunctionInstance.Start: %w", err)
	}
	if re := resp.GetResponseError(); re != nil {
		return nil, &ResponseError{Summary: re.GetSummary(), Detail: re.GetDetail()}
	}
	id := resp.GetInstanceId().GetInstanceId()
	if id == nil || id.GetFunctionId() == "" {
		return nil, errors.New("ill-formed answer: neither an instance id nor an error")
	}
	in := &instance{
		name:          f.GetName(),
		classID:       f.GetClassSpec().GetId(),
		functionType:  f.GetClassSpec().GetFunctionType(),
		code:          f.GetClassSpec().GetCode(),
		nodeID:        n.id,
		agentURL:      n.agentURL,
		incarnation:   n.incarnation,
		functionID:    id.GetFunctionId(),
		stateID:       stateID,
		startedAt:     t0,
		startDuration: took,
	}
	if !sameUUID(id.GetNodeId(), n.id) {
		return in, fmt.Errorf("node answered with an instance on node %q", id.GetNodeId())
	}
	o.trackLogs(in.functionID)
	in.steps = o.instanceSteps(ctx, n.agentURL, in.functionID)
	return in, nil
}

// patchFuncs sends functions and resources their output mapping,
// resolved to the instances funcs (a resource through
// ResourceConfiguration.Patch): every component with outputs, or those for
// which only returns true. It stops at the first failure, unless
// bestEffort: then it skips the instances whose node has left (their
// replacements are wired when they start), patches every other one and
// returns the failures joined.
func (o *Orchestrator) patchFuncs(ctx context.Context, req *edgelessapi.SpawnWorkflowRequest, funcs []*instance,
	only func(name string, outputs map[string]string) bool, bestEffort bool) error {
	byName := map[string]*instance{}
	for _, in := range funcs {
		byName[in.name] = in
	}
	var errs []error
	for _, c := range mappings(req) {
		in := byName[c.name]
		if len(c.m) == 0 || (only != nil && !only(c.name, c.m)) {
			continue
		}
		m := map[string]*edgelessapi.InstanceId{}
		for ch, target := range c.m {
			m[ch] = byName[target].id()
		}
		n := o.liveNode(in.nodeID, in.incarnation)
		if n == nil && bestEffort {
			continue
		}
		var err error
		if n == nil {
			err = errors.New("the node left the orchestrator")
		} else {
			pctx, cancel := context.WithTimeout(ctx, o.cfg.AgentTimeout)
			if in.resource {
				_, err = n.client.rc.Patch(pctx, &edgelessapi.PatchRequest{FunctionId: in.functionID, OutputMapping: m})
			} else {
				_, err = n.client.fi.Patch(pctx, &edgelessapi.PatchRequest{FunctionId: in.functionID, OutputMapping: m})
			}
			cancel()
		}
		if err != nil {
			err = &StartError{Function: in.name, Resource: in.resource, Step: "patch", NodeID: in.nodeID, Err: err}
			if !bestEffort {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rollback stops a failed workflow's started instances in reverse order.
// It runs even when ctx is cancelled (the client went away): the instances
// must not outlive the failed start.
func (o *Orchestrator) rollback(ctx context.Context, rec *workflowRecord, progress func(adminapi.Progress)) {
	ctx = context.WithoutCancel(ctx)
	for i := len(rec.funcs) - 1; i >= 0; i-- {
		in := rec.funcs[i]
		p := adminapi.Progress{Type: adminapi.ProgressRolledBack, WorkflowID: rec.id, Function: in.name, NodeID: in.nodeID, FunctionID: in.functionID, Resource: in.resource}
		if err := o.stopInstance(ctx, in); err != nil {
			o.log.Error("cannot stop instance of failed workflow", "workflow", rec.id, "function", in.name,
				"node", in.nodeID, "instance", in.functionID, "err", err)
			p.Error = err.Error()
		}
		progress(p)
	}
	o.forgetLogs(rec.funcs)
}

func image(f *edgelessapi.WorkflowFunction) string {
	if img, ok := strings.CutPrefix(f.GetClassSpec().GetCode(), "container:"); ok {
		return img
	}
	return ""
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// status is the record (with the instances funcs) as
// WorkflowInstanceStatus.
func (r *workflowRecord) status(domain string, funcs []*instance) *edgelessapi.WorkflowInstanceStatus {
	st := &edgelessapi.WorkflowInstanceStatus{WorkflowId: &edgelessapi.WorkflowId{WorkflowId: r.id}}
	for _, in := range funcs {
		st.DomainMapping = append(st.DomainMapping, &edgelessapi.WorkflowFunctionMapping{
			Name: in.name, FunctionId: in.functionID, DomainId: domain,
		})
	}
	return st
}

// sameUUID reports whether a and b are the same UUID, whatever their
// spelling (upstream compares parsed UUIDs).
func sameUUID(a, b string) bool {
	ua, errA := uuid.Parse(a)
	ub, errB := uuid.Parse(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ua == ub
}
