package orchestrator

import (
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/google/go-cmp/cmp"
)

// providers are the resource providers a node announces as upstream's does.
func providers() []*edgelessapi.ResourceProviderSpecification {
	return []*edgelessapi.ResourceProviderSpecification{
		{ProviderId: "h-http-ingress-1", ClassType: "http-ingress", Outputs: []string{"new_request"}},
		{ProviderId: "h-file-log-1", ClassType: "file-log"},
	}
}

// withResources is ingress -> transformer -> sink, sink -> file-log.
func withResources() *edgelessapi.SpawnWorkflowRequest {
	req := threeFunctions()
	req.WorkflowFunctions = req.WorkflowFunctions[1:]
	req.WorkflowFunctions[1].OutputMapping = map[string]string{"output": "log"}
	req.WorkflowResources = []*edgelessapi.WorkflowResource{
		{Name: "ingress", ClassType: "http-ingress", OutputMapping: map[string]string{"new_request": "transformer"},
			Configurations: map[string]string{"host": "demo"}},
		{Name: "log", ClassType: "file-log", Configurations: map[string]string{"filename": "x.log"}},
	}
	return req
}

func TestStart_ResourcesArePlacedWiredAndStopped(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	plain := newFakeAgent(t)
	o.register(t, plain)
	plain.waitCalls(2)
	a := newFakeAgent(t)
	a.resources = providers()
	o.register(t, a)
	a.waitCalls(3)
	plain.takeCalls()

	resp, err := o.workflows().Start(t.Context(), withResources())
	if err != nil || resp.GetResponseError() != nil {
		t.Fatalf("Start = %v, %v", resp, err)
	}
	// Each resource goes to the node that offers it; the functions to the
	// least loaded node (both are free at first).
	for _, c := range plain.takeCalls() {
		if strings.Contains(c, "Resource") {
			t.Errorf("the node without providers got %q", c)
		}
	}
	got := strings.Join(a.takeCalls(), "|")
	for _, want := range []string{"StartResource http-ingress", "StartResource file-log", "PatchResource http-ingress new_request->"} {
		if !strings.Contains(got, want) {
			t.Errorf("agent calls %q lack %q", got, want)
		}
	}
	st := resp.GetWorkflowStatus()
	if n := len(st.GetDomainMapping()); n != 4 {
		t.Errorf("domain_mapping has %d entries, want 4 (2 functions, 2 resources)", n)
	}
	if _, err := o.workflows().Stop(t.Context(), st.GetWorkflowId()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	var stops []string
	for _, c := range a.waitCalls(3) {
		if strings.HasPrefix(c, "StopResource") {
			stops = append(stops, c)
		}
	}
	if diff := cmp.Diff([]string{"StopResource file-log", "StopResource http-ingress"}, stops); diff != "" {
		t.Errorf("resource stops, in reverse start order (-want +got):\n%s", diff)
	}
}

func TestStart_WorkflowOfResourcesOnly(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	a.resources = providers()
	o.register(t, a)
	a.waitCalls(2)
	req := &edgelessapi.SpawnWorkflowRequest{WorkflowResources: []*edgelessapi.WorkflowResource{
		{Name: "ingress", ClassType: "http-ingress", OutputMapping: map[string]string{"new_request": "log"}},
		{Name: "log", ClassType: "file-log", Configurations: map[string]string{"filename": "x.log"}},
	}}
	resp, err := o.workflows().Start(t.Context(), req)
	if err != nil || resp.GetResponseError() != nil {
		t.Fatalf("Start = %v, %v", resp, err)
	}
	want := []string{"StartResource http-ingress", "StartResource file-log", "PatchResource http-ingress new_request->file-log"}
	if diff := cmp.Diff(want, a.waitCalls(3)); diff != "" {
		t.Errorf("agent calls (-want +got):\n%s", diff)
	}
}

func TestStart_ResourceFailureRollsBack(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	a.resources = providers()
	o.register(t, a)
	a.waitCalls(2)
	a.onStartResource = func(req *edgelessapi.ResourceInstanceSpecification) *edgelessapi.StartComponentResponse {
		if req.GetResourceClassType() != "file-log" {
			return nil
		}
		d := "filename \"../x\": want a relative path"
		return &edgelessapi.StartComponentResponse{ResponseError: &edgelessapi.ResponseError{Summary: "Invalid resource configuration", Detail: &d}}
	}
	resp, err := o.workflows().Start(t.Context(), withResources())
	if err != nil {
		t.Fatal(err)
	}
	re := resp.GetResponseError()
	if re.GetSummary() != `resource "log" failed to start` || !strings.Contains(re.GetDetail(), `Invalid resource configuration: filename "../x"`) {
		t.Errorf("response_error = %v, want the resource, its node's summary and detail", re)
	}
	want := []string{
		"Start transformer", "Start sink", "StartResource http-ingress", "StartResource file-log",
		"StopResource http-ingress", "Stop sink", "Stop transformer",
	}
	if diff := cmp.Diff(want, a.waitCalls(len(want))); diff != "" {
		t.Errorf("agent calls (-want +got):\n%s", diff)
	}
}
