package orchestrator

import (
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/google/go-cmp/cmp"
)

// An instance that its node no longer knows (it crashed and was cleaned up)
// counts as stopped; one whose node fails to stop it keeps the workflow
// listed until a retry succeeds.
func TestStop_CrashedAndFailing(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	a.waitCalls(2)
	st, err := o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.waitCalls(5)
	id := st.GetWorkflowId().GetWorkflowId()
	// transformer crashed: the node forgot it.
	a.mu.Lock()
	for fid, class := range a.instances {
		if class == "transformer" {
			delete(a.instances, fid)
		}
	}
	a.mu.Unlock()
	failing := true
	a.onStop = func(fid string) error {
		if failing && a.class(fid) == "ticker" {
			return connect.NewError(connect.CodeUnavailable, errors.New("docker daemon busy"))
		}
		return nil
	}
	err = o.StopWorkflow(t.Context(), id)
	if err == nil || !strings.Contains(err.Error(), `function "ticker"`) || !strings.Contains(err.Error(), "docker daemon busy") {
		t.Fatalf("StopWorkflow = %v, want an error naming ticker", err)
	}
	if diff := cmp.Diff([]string{"Stop sink", "Stop ", "Stop ticker"}, a.waitCalls(3)); diff != "" {
		t.Errorf("stop calls (-want +got):\n%s", diff)
	}
	rec := o.record(id)
	if rec == nil || len(rec.funcs) != 1 || rec.funcs[0].name != "ticker" {
		t.Fatalf("after a partial stop the workflow holds %v, want only ticker", rec)
	}
	failing = false
	if err := o.StopWorkflow(t.Context(), id); err != nil {
		t.Fatalf("second StopWorkflow: %v", err)
	}
	if got := a.waitCalls(1); got[0] != "Stop ticker" {
		t.Errorf("retry calls = %q, want Stop ticker", got)
	}
	if o.record(id) != nil {
		t.Error("workflow still listed after a complete stop")
	}
}

func TestStop_TwoWorkflowsSideBySide(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	a.waitCalls(2)
	st1, err := o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.waitCalls(10)
	if err := o.StopWorkflow(t.Context(), st1.GetWorkflowId().GetWorkflowId()); err != nil {
		t.Fatal(err)
	}
	a.waitCalls(3)
	a.mu.Lock()
	left := len(a.instances)
	a.mu.Unlock()
	if left != 3 {
		t.Errorf("%d instances left on the node after stopping one of two workflows, want 3", left)
	}
	for _, m := range st2.GetDomainMapping() {
		if a.class(m.GetFunctionId()) != m.GetName() {
			t.Errorf("second workflow's %s (%s) is gone", m.GetName(), m.GetFunctionId())
		}
	}
	ids := []string{}
	for _, r := range o.records() {
		ids = append(ids, r.id)
	}
	if diff := cmp.Diff([]string{st2.GetWorkflowId().GetWorkflowId()}, ids); diff != "" {
		t.Errorf("listed workflows (-want +got):\n%s", diff)
	}
}

// Instances on a node that left are gone: Stop does not call anyone for
// them, and the admin view says so.
func TestStop_NodeGone(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{SweepInterval: 20 * time.Millisecond})
	a := newFakeAgent(t)
	resp, err := o.registration().UpdateNode(t.Context(), a.update(time.Now().Add(2*time.Second)))
	if err != nil || resp.ResponseError != nil {
		t.Fatalf("UpdateNode = %v, %v", resp, err)
	}
	if err := o.WaitNodeReady(t.Context(), a.nodeID); err != nil {
		t.Fatal(err)
	}
	st, err := o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := st.GetWorkflowId().GetWorkflowId()
	for {
		if o.info(o.record(id)).Functions[0].NodeGone {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.takeCalls()
	if err := o.StopWorkflow(t.Context(), id); err != nil {
		t.Fatalf("StopWorkflow: %v", err)
	}
	if got := a.takeCalls(); len(got) != 0 {
		t.Errorf("Stop called a node that left: %q", got)
	}
	_, err = o.workflows().Inspect(t.Context(), &edgelessapi.WorkflowId{WorkflowId: id})
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("Inspect = %v, want NotFound", err)
	}
}
