package agent

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/registration"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// fakeRuntime is a second runtime (function type FAKE): what adding a
// runtime to a node takes is this type and one registration line.
type fakeRuntime struct {
	mu     sync.Mutex
	starts []contract.StartSpec
	insts  []*fakeInstance
}

var _ contract.Runtime = (*fakeRuntime)(nil)

func (r *fakeRuntime) FunctionType() string { return "FAKE" }

func (r *fakeRuntime) Start(_ context.Context, spec contract.StartSpec) (contract.Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := &fakeInstance{id: spec.ID, spec: spec}
	r.starts = append(r.starts, spec)
	r.insts = append(r.insts, i)
	return i, nil
}

func (r *fakeRuntime) Close(context.Context) error { return nil }

// fakeInstance answers every call with "fake:" and the payload.
type fakeInstance struct {
	id   contract.InstanceID
	spec contract.StartSpec

	mu      sync.Mutex
	stopped bool
}

func (i *fakeInstance) ID() contract.InstanceID { return i.id }

func (i *fakeInstance) Cast(context.Context, contract.InstanceID, []byte) error { return nil }

func (i *fakeInstance) Call(_ context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: append([]byte("fake:"), msg...)}, nil
}

func (i *fakeInstance) Stop(context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.stopped = true
	return nil
}

func (i *fakeInstance) Info() contract.Info {
	i.mu.Lock()
	defer i.mu.Unlock()
	st := contract.StateRunning
	if i.stopped {
		st = contract.StateStopped
	}
	return contract.Info{ID: i.id, ClassID: i.spec.ClassID, Code: i.spec.Code, State: st}
}

func (i *fakeInstance) Logs() []contract.LogLine { return nil }

func TestAgent_SecondRuntime(t *testing.T) {
	t.Parallel()
	fake := &fakeRuntime{}
	n := newTestNode(t, true, fake)

	// The registration announces both runtimes, and only them.
	caps := registration.Capabilities(config.UserNodeCapabilities{}, config.UserNodeCapabilities{}, n.agent.Runtimes(), "host")
	if got, want := caps.GetRuntimes(), []string{"CONTAINER", "FAKE"}; !slices.Equal(got, want) {
		t.Errorf("announced runtimes = %q, want %q", got, want)
	}

	req := spawnRequest("fake-code", uuid.NewString(), map[string]string{"init-payload": "p=2"})
	req.Code.FunctionType = "FAKE"
	req.Code.Binary = []byte{0, 'a', 's', 'm'}
	res, err := n.fi.Start(t.Context(), req)
	if err != nil {
		t.Fatalf("Start(FAKE) = %v", err)
	}
	if e := res.GetResponseError(); e != nil {
		t.Fatalf("Start(FAKE) = ResponseError %q: %q", e.GetSummary(), e.GetDetail())
	}
	wid := res.GetInstanceId().GetInstanceId()
	id := contract.InstanceID{NodeID: wid.GetNodeId(), FunctionID: wid.GetFunctionId()}

	fake.mu.Lock()
	starts := slices.Clone(fake.starts)
	fake.mu.Unlock()
	if len(starts) != 1 {
		t.Fatalf("fake runtime got %d starts, want 1", len(starts))
	}
	s := starts[0]
	if s.ID != id || s.FunctionType != "FAKE" || s.ClassID != "test-class" || s.Code != "fake-code" ||
		string(s.Binary) != "\x00asm" || s.InitPayload != "p=2" || s.Host == nil || s.OnExit == nil {
		t.Errorf("fake runtime got spec %+v, want id %v, type FAKE, class test-class, code fake-code, binary, init payload p=2, a host and OnExit", s, id)
	}

	// Events for the instance reach the fake runtime's instance.
	if got := n.call(t, id, "hello"); got != "fake:hello" {
		t.Errorf("call through the data plane = %q, want %q", got, "fake:hello")
	}
	n.stop(t, id)
	fake.mu.Lock()
	stopped := fake.insts[0].Info().State
	fake.mu.Unlock()
	if stopped != contract.StateStopped {
		t.Errorf("fake instance state after Stop = %q, want stopped", stopped)
	}
}
