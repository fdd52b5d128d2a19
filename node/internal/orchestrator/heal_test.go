package orchestrator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// The only node is lost: its functions wait, saying why; a node that
// registers afterwards gets them, wired to each other, and they count a
// move.
func TestHeal_LostNodeWaitsThenMoves(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{SweepInterval: 20 * time.Millisecond})
	a := newFakeAgent(t)
	if _, err := o.registration().UpdateNode(t.Context(), a.update(time.Now().Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	if err := o.WaitNodeReady(t.Context(), a.nodeID); err != nil {
		t.Fatal(err)
	}
	st, err := o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := st.GetWorkflowId().GetWorkflowId()
	waitHealth := func(want string) adminapi.WorkflowInfo {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			wi := o.info(o.record(id))
			if !slices.ContainsFunc(wi.Functions, func(f adminapi.FunctionInfo) bool { return f.Health != want }) {
				return wi
			}
			if time.Now().After(deadline) {
				t.Fatalf("functions are not all %s: %+v", want, wi.Functions)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, f := range waitHealth(adminapi.HealthWaiting).Functions {
		if !strings.Contains(f.Reason, "no node is registered") {
			t.Errorf("%s waits with reason %q, want: no node is registered", f.Name, f.Reason)
		}
	}

	b := newFakeAgent(t)
	o.register(t, b)
	wi := waitHealth(adminapi.HealthRunning)
	byName := map[string]adminapi.FunctionInfo{}
	for _, f := range wi.Functions {
		byName[f.Name] = f
		if f.NodeID != b.nodeID || f.Moves != 1 || f.Restarts != 0 || f.LastRestart.IsZero() {
			t.Errorf("%s after the move = %+v, want on node %s with 1 move", f.Name, f, b.nodeID)
		}
	}
	// Every output points at the moved instances.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := b.patches[byName["ticker"].FunctionID]["output"].GetFunctionId()
		got2 := b.patches[byName["transformer"].FunctionID]["output"].GetFunctionId()
		b.mu.Unlock()
		if got == byName["transformer"].FunctionID && got2 == byName["sink"].FunctionID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticker.output = %s, transformer.output = %s; want the moved transformer %s and sink %s",
				got, got2, byName["transformer"].FunctionID, byName["sink"].FunctionID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The move's event comes once its peers are re-wired.
	want := "started,node_lost,waiting,moved"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		evs, _, _ := o.record(id).events.after(0)
		var types []string
		for _, e := range evs {
			if e.Function == "sink" {
				types = append(types, e.Type)
			}
		}
		got := strings.Join(types, ",")
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events of sink = %s, want %s", got, want)
		}
	}
	if err := o.StopWorkflow(t.Context(), id); err != nil {
		t.Fatal(err)
	}
}

func TestBackoff_DoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	o := New(Config{RestartBackoff: 100 * time.Millisecond, RestartBackoffMax: time.Second})
	defer o.Close()
	for streak, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		if got := o.backoff(streak); got != want {
			t.Errorf("backoff(%d) = %s, want %s", streak, got, want)
		}
	}
}

// A lost node's resources move with its functions: started on the node
// that remains (which offers their providers) and wired again.
func TestHeal_LostNodeResourcesMove(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{SweepInterval: 20 * time.Millisecond})
	a := newFakeAgent(t)
	a.resources = providers()
	if _, err := o.registration().UpdateNode(t.Context(), a.update(time.Now().Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	if err := o.WaitNodeReady(t.Context(), a.nodeID); err != nil {
		t.Fatal(err)
	}
	st, err := o.StartWorkflow(t.Context(), withResources(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := st.GetWorkflowId().GetWorkflowId()
	b := newFakeAgent(t)
	b.resources = providers()
	o.register(t, b)
	deadline := time.Now().Add(30 * time.Second)
	for {
		moved := 0
		for _, f := range o.info(o.record(id)).Functions {
			if f.NodeID == b.nodeID && f.Health == adminapi.HealthRunning && f.Moves == 1 {
				moved++
			}
		}
		if moved == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the loss of node a: %+v, want the 2 functions and 2 resources moved to node b", o.info(o.record(id)).Functions)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []string{"StartResource http-ingress", "StartResource file-log", "PatchResource http-ingress new_request->"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b.mu.Lock()
		got := strings.Join(b.calls, "|")
		b.mu.Unlock()
		missing := slices.IndexFunc(want, func(w string) bool { return !strings.Contains(got, w) })
		if missing < 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node b's calls %q lack %q", got, want[missing])
		}
	}
	if err := o.StopWorkflow(t.Context(), id); err != nil {
		t.Fatal(err)
	}
}

// The events endpoint: bad parameters and unknown workflows are refused
// with a reason; a followed stream gets every event and ends with
// "stopped" when the workflow stops.
func TestAdmin_EventsStream(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	st, err := o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := st.GetWorkflowId().GetWorkflowId()
	ctl := adminapi.Controller{BaseURL: o.controllerURL}
	for _, tt := range []struct{ name, path, want string }{
		{"bad after", "/admin/v1/workflows/" + id + "/events?after=x", `after="x": want a sequence number`},
		{"bad follow", "/admin/v1/workflows/" + id + "/events?follow=maybe", `follow="maybe": want true or false`},
		{"unknown workflow", "/admin/v1/workflows/nope/events", `unknown workflow "nope"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out any
			if err := ctl.Get(t.Context(), tt.path, &out); err == nil || err.Error() != tt.want {
				t.Errorf("GET %s = %v, want %q", tt.path, err, tt.want)
			}
		})
	}

	got := make(chan []string, 1)
	open := make(chan struct{})
	go func() {
		var types []string
		err := ctl.Events(t.Context(), id, 0, true, func(e adminapi.Event) error {
			types = append(types, e.Type+" "+e.Function)
			if len(types) == 3 {
				close(open)
			}
			return nil
		})
		if err != nil {
			t.Errorf("Events = %v", err)
		}
		got <- types
	}()
	// The stream is open (it has the three starts) before the stop: it sees
	// the stop as it happens.
	select {
	case <-open:
	case <-time.After(30 * time.Second):
		t.Fatal("the followed stream did not deliver the starts")
	}
	if err := o.StopWorkflow(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	want := "started ticker,started transformer,started sink,stopped "
	select {
	case types := <-got:
		if s := strings.Join(types, ","); s != want {
			t.Errorf("followed events = %s, want %s", s, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the followed stream did not end after the workflow stopped")
	}
}
