package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// The states of an instance in the agent's table.
const (
	stateStarting = "starting"
	stateRunning  = "running"
	stateStopping = "stopping"
	stateExited   = "exited"
)

var instanceStates = []string{stateStarting, stateRunning, stateStopping, stateExited}

// instance is one entry of the agent's table.
type instance struct {
	id         contract.InstanceID
	classID    string
	fnType     string
	workflowID string
	stateID    string
	policy     edgelessapi.StatePolicy
	code       string
	requested  time.Time
	mbox       *dataplane.Mailbox
	// sent counts the events the instance sent per output alias.
	sent sentCounter

	cancelStart context.CancelFunc
	started     chan struct{} // closed when Start has finished, either way

	mu    sync.Mutex // guards state and inst
	state string
	inst  contract.Instance
	// exit says why the instance ended on its own (state exited).
	exit *contract.ExitInfo

	stopOnce sync.Once
	stopDone chan struct{}
	stopErr  error
}

func (in *instance) setRunning(inst contract.Instance) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.inst = inst
	if in.state == stateStarting {
		in.state = stateRunning
	}
}

func (in *instance) runtimeInstance() contract.Instance {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.inst
}

// exitInfo returns why the instance ended on its own, or nil.
func (in *instance) exitInfo() *contract.ExitInfo {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.exit
}

func (in *instance) currentState() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state
}

// countStates counts the instances by state, for the metrics.
func (a *Agent) countStates() map[string]int {
	n := make(map[string]int)
	for _, in := range a.all() {
		n[in.currentState()]++
	}
	return n
}

// maxMissedDeadlines is how many events in a row an instance may leave
// unanswered past their deadline before the node reports it as
// unresponsive (to the orchestrator, a crash).
const maxMissedDeadlines = 3

// meteredReceiver delivers events to a runtime's instance and records them.
type meteredReceiver struct {
	inst contract.Instance
	rec  *telemetry.Recorder
	// missed counts the events in a row that passed their deadline;
	// unresponsive is called when it reaches maxMissedDeadlines.
	missed       atomic.Int32
	unresponsive func(missed int)
}

// track counts the events in a row that passed their deadline.
func (m *meteredReceiver) track(ctx context.Context, err error) {
	switch {
	case err == nil:
		m.missed.Store(0)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		connect.CodeOf(err) == connect.CodeDeadlineExceeded:
		if n := m.missed.Add(1); n == maxMissedDeadlines && m.unresponsive != nil {
			m.unresponsive(int(n))
		}
	}
}

var _ dataplane.Receiver = (*meteredReceiver)(nil)

// newMeteredReceiver returns inst's receiver, recording into rec;
// unresponsive (may be nil) is called when the instance has missed
// maxMissedDeadlines deadlines in a row.
func newMeteredReceiver(inst contract.Instance, rec *telemetry.Recorder, unresponsive func(missed int)) *meteredReceiver {
	return &meteredReceiver{inst: inst, rec: rec, unresponsive: unresponsive}
}

// Cast delivers a cast and records its outcome and latency.
func (m *meteredReceiver) Cast(ctx context.Context, src contract.InstanceID, msg []byte) error {
	t0 := time.Now()
	err := m.inst.Cast(ctx, src, msg)
	m.track(ctx, err)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.rec.Event(m.inst.ID().FunctionID, "cast", outcome, time.Since(t0))
	return err
}

// Call delivers a call and records its outcome and latency.
func (m *meteredReceiver) Call(ctx context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error) {
	t0 := time.Now()
	r, err := m.inst.Call(ctx, src, msg)
	m.track(ctx, err)
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
	case r.Type == edgelessapi.CallRetType_CALL_RET_NO_REPLY:
		outcome = "no_reply"
	case r.Type == edgelessapi.CallRetType_CALL_RET_ERR:
		outcome = "err"
	}
	m.rec.Event(m.inst.ID().FunctionID, "call", outcome, time.Since(t0))
	return r, err
}
