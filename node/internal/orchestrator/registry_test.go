package orchestrator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/google/go-cmp/cmp"
)

func TestRegistration_AddResetsAndPeers(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a, b := newFakeAgent(t), newFakeAgent(t)

	o.register(t, a)
	want := []string{"Reset", "UpdatePeers ADD " + short(a.nodeID) + " " + a.invocationURL()}
	if diff := cmp.Diff(want, a.waitCalls(2)); diff != "" {
		t.Errorf("first node's calls (-want +got):\n%s", diff)
	}

	o.register(t, b)
	want = []string{
		"Reset",
		"UpdatePeers ADD " + short(b.nodeID) + " " + b.invocationURL(),
		"UpdatePeers ADD " + short(a.nodeID) + " " + a.invocationURL(),
	}
	if diff := cmp.Diff(want, b.waitCalls(3)); diff != "" {
		t.Errorf("second node's calls (-want +got):\n%s", diff)
	}
	want = []string{"UpdatePeers ADD " + short(b.nodeID) + " " + b.invocationURL()}
	if diff := cmp.Diff(want, a.waitCalls(1)); diff != "" {
		t.Errorf("first node's calls when the second joins (-want +got):\n%s", diff)
	}

	// Same nonce: only the deadline moves; nobody is called.
	o.register(t, b)
	// New nonce: b restarted; a drops it and adds it again, b is Reset.
	b.nonce = 2
	o.register(t, b)
	want = []string{
		"UpdatePeers DEL " + short(b.nodeID) + " ",
		"UpdatePeers ADD " + short(b.nodeID) + " " + b.invocationURL(),
	}
	if diff := cmp.Diff(want, a.waitCalls(2)); diff != "" {
		t.Errorf("first node's calls when the second restarts (-want +got):\n%s", diff)
	}
	if got := b.waitCalls(3); got[0] != "Reset" {
		t.Errorf("restarted node's calls = %q, want Reset first", got)
	}
	if got := a.takeCalls(); len(got) != 0 {
		t.Errorf("first node got extra calls %q", got)
	}
}

func TestRegistration_SweepsExpiredNode(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{SweepInterval: 20 * time.Millisecond})
	a, b := newFakeAgent(t), newFakeAgent(t)
	o.register(t, a)
	a.waitCalls(2)
	// b's deadline is one second away and it never refreshes.
	resp, err := o.registration().UpdateNode(t.Context(), b.update(time.Now().Add(time.Second)))
	if err != nil || resp.ResponseError != nil {
		t.Fatalf("UpdateNode = %v, %v", resp, err)
	}
	want := []string{
		"UpdatePeers ADD " + short(b.nodeID) + " " + b.invocationURL(),
		"UpdatePeers DEL " + short(b.nodeID) + " ",
	}
	if diff := cmp.Diff(want, a.waitCalls(2)); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	o.mu.Lock()
	_, known := o.nodes[b.nodeID]
	o.mu.Unlock()
	if known {
		t.Errorf("expired node %s still registered", b.nodeID)
	}
}

func TestRegistration_BadUpdates(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	tests := []struct {
		name   string
		modify func(*edgelessapi.UpdateNodeRequest)
		want   string
	}{
		{"bad node id", func(r *edgelessapi.UpdateNodeRequest) { r.NodeId = "node-1" }, `node_id "node-1" is not a UUID`},
		{"past deadline", func(r *edgelessapi.UpdateNodeRequest) {
			r.RefreshDeadline = uint64(time.Now().Add(-time.Minute).Unix())
		},
			"is not in the future"},
		{"bad agent url", func(r *edgelessapi.UpdateNodeRequest) { r.AgentUrl = "127.0.0.1:7005" },
			`agent_url "127.0.0.1:7005": want http://<host>:<port>`},
		{"bad invocation url", func(r *edgelessapi.UpdateNodeRequest) { r.InvocationUrl = "" },
			`invocation_url "": want http://<host>:<port>`},
		{"empty provider", func(r *edgelessapi.UpdateNodeRequest) {
			r.ResourceProviders = []*edgelessapi.ResourceProviderSpecification{{ClassType: "file-log"}}
		}, "resource provider with an empty provider_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := a.update(time.Now().Add(time.Minute))
			tt.modify(req)
			resp, err := o.registration().UpdateNode(t.Context(), req)
			if err != nil {
				t.Fatalf("UpdateNode: %v", err)
			}
			if resp.ResponseError == nil || !strings.Contains(resp.ResponseError.GetDetail(), tt.want) {
				t.Errorf("UpdateNode(%s) response_error = %v, want detail containing %q", tt.name, resp.ResponseError, tt.want)
			}
		})
	}
	if got := a.takeCalls(); len(got) != 0 {
		t.Errorf("refused updates called the node: %q", got)
	}
}

// A node whose agent hangs must not block its own registration, nor another
// node's.
func TestRegistration_SlowAgentDoesNotBlock(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{StopTimeout: 30 * time.Second})
	slow, fast := newFakeAgent(t), newFakeAgent(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow.onReset = func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return errors.New("released")
	}
	for _, a := range []*fakeAgent{slow, fast, slow} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		resp, err := o.registration().UpdateNode(ctx, a.update(time.Now().Add(time.Minute)))
		cancel()
		if err != nil || resp.ResponseError != nil {
			t.Fatalf("UpdateNode(%s) = %v, %v; want accepted at once", short(a.nodeID), resp, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := o.WaitNodeReady(ctx, fast.nodeID); err != nil {
		t.Fatalf("fast node not ready while the slow one hangs: %v", err)
	}
}

// A node whose Reset fails is not used, and is retried at its next update.
func TestRegistration_ResetFailureRetried(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	fail := true
	a.onReset = func(context.Context) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if fail {
			return errors.New("agent busy")
		}
		return nil
	}
	resp, err := o.registration().UpdateNode(t.Context(), a.update(time.Now().Add(time.Minute)))
	if err != nil || resp.ResponseError != nil {
		t.Fatalf("UpdateNode = %v, %v", resp, err)
	}
	a.waitCalls(2)
	_, err = o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err == nil || !strings.Contains(err.Error(), "is not ready (failed: reset:") {
		t.Errorf("StartWorkflow on a node whose reset failed = %v, want a placement error saying so", err)
	}
	a.mu.Lock()
	fail = false
	a.mu.Unlock()
	o.register(t, a)
}

func TestRegistration_AfterClose(t *testing.T) {
	t.Parallel()
	o := New(Config{Logger: testLogger(t)})
	o.Close()
	a := newFakeAgent(t)
	if err := o.UpdateNode(a.update(time.Now().Add(time.Minute))); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("UpdateNode after Close = %v, want a refusal", err)
	}
	if got := a.takeCalls(); len(got) != 0 {
		t.Errorf("a closed orchestrator called the node: %q", got)
	}
}
