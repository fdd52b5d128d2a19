package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// ErrUnknownWorkflow: no running workflow has this id.
var ErrUnknownWorkflow = errors.New("unknown workflow")

// StopWorkflow stops a workflow's instances in reverse start order. An
// instance whose node has left, or that its node no longer knows (e.g. it
// crashed and was cleaned up), counts as stopped. If some instances cannot
// be stopped (their node does not answer), the workflow stays listed with
// only those instances, so that Stop can be retried, and the error says
// which.
func (o *Orchestrator) StopWorkflow(ctx context.Context, id string) error {
	o.mu.Lock()
	rec, ok := o.workflows[id]
	delete(o.workflows, id)
	if ok {
		rec.stopped = true
	}
	o.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownWorkflow, id)
	}
	// A replacement in progress finishes first (it sees stopped and stops
	// what it started, or records it for this stop to find).
	rec.healMu.Lock()
	defer rec.healMu.Unlock()
	o.mu.Lock()
	funcs := rec.funcs
	o.mu.Unlock()
	log := o.log.With("workflow", id)
	log.Info("stopping workflow", "instances", len(funcs))
	var left, stopped []*instance
	var errs []error
	for i := len(funcs) - 1; i >= 0; i-- {
		in := funcs[i]
		if err := o.stopInstance(ctx, in); err != nil {
			left = append(left, in)
			errs = append(errs, fmt.Errorf("%s %q (instance %s on node %s): %w", in.kind(), in.name, in.functionID, in.nodeID, err))
			continue
		}
		stopped = append(stopped, in)
	}
	o.forgetLogs(stopped)
	if len(left) == 0 {
		o.event(rec, adminapi.Event{Type: adminapi.EventStopped})
		log.Info("workflow stopped")
		return nil
	}
	slices.Reverse(left)
	o.mu.Lock()
	o.workflows[id] = &workflowRecord{id: id, req: rec.req, created: rec.created, funcs: left, health: rec.health, events: rec.events,
		// Being stopped: its instances are not healed any more.
		stopped: true}
	o.mu.Unlock()
	err := fmt.Errorf("stop workflow %s: %d instance(s) could not be stopped and stay listed (retry the stop): %w",
		id, len(left), errors.Join(errs...))
	log.Warn("workflow stop incomplete", "err", err)
	return err
}

// stopInstance stops one instance through its node's agent. A node that has
// left, or that answers NotFound, means the instance is already gone.
func (o *Orchestrator) stopInstance(ctx context.Context, in *instance) error {
	n := o.liveNode(in.nodeID, in.incarnation)
	if n == nil {
		o.log.Info("instance's node has left; nothing to stop", "node", in.nodeID, "instance", in.functionID)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.StopTimeout)
	defer cancel()
	id := &edgelessapi.InstanceIdVariant{InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{InstanceId: in.id()}}
	var err error
	if in.resource {
		_, err = n.client.rc.Stop(ctx, id)
	} else {
		_, err = n.client.fi.Stop(ctx, id)
	}
	if connect.CodeOf(err) == connect.CodeNotFound {
		o.log.Info("node no longer knows the instance; counting it as stopped", "node", in.nodeID, "instance", in.functionID, "err", err)
		return nil
	}
	if err != nil {
		if in.resource {
			return fmt.Errorf("ResourceConfiguration.Stop: %w", err)
		}
		return fmt.Errorf("FunctionInstance.Stop: %w", err)
	}
	return nil
}
