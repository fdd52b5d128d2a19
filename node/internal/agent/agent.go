package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/adminguard"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/node/internal/state"
	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

// DefaultStopTimeout bounds the wait for one instance to stop.
const DefaultStopTimeout = time.Minute

// Config configures an Agent.
type Config struct {
	// NodeID is the node's UUID.
	NodeID string
	// Runtimes run the node's function instances, one runtime per
	// function type (Runtime.FunctionType). The node announces exactly
	// these types; a Start of any other type is refused. None means the
	// node runs no functions.
	Runtimes []contract.Runtime
	// Dataplane delivers the instances' events.
	Dataplane *dataplane.Dataplane
	// Resources hosts the node's resource instances and serves
	// ResourceConfiguration; nil means the node has no resource providers.
	Resources *resources.Manager
	// States persists NodeLocal state.
	States *state.Store
	// Recorder receives metrics, samples and function logs.
	Recorder *telemetry.Recorder
	// StopTimeout bounds the wait for one instance to stop (default
	// DefaultStopTimeout).
	StopTimeout time.Duration
	// Logger receives the agent's logs.
	Logger *slog.Logger
}

// Agent serves the agent API and owns the node's function instances.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	adminID contract.InstanceID
	// runtimes maps a function type to its runtime; fixed after New.
	runtimes map[string]contract.Runtime

	mu        sync.Mutex // guards instances and closed; never held across a call
	instances map[string]*instance
	closed    bool

	// exits is the feed of instances that ended on their own.
	exits *exitLog
}

var (
	_ edgelessapiconnect.FunctionInstanceHandler      = (*Agent)(nil)
	_ edgelessapiconnect.NodeManagementHandler        = (*Agent)(nil)
	_ edgelessapiconnect.ResourceConfigurationHandler = resourceConfiguration{}
)

// New returns an Agent for cfg.
func New(cfg Config) (*Agent, error) {
	if _, err := uuid.Parse(cfg.NodeID); err != nil {
		return nil, fmt.Errorf("agent: node id %q: %w", cfg.NodeID, err)
	}
	if cfg.Dataplane == nil || cfg.States == nil || cfg.Recorder == nil {
		return nil, errors.New("agent: Dataplane, States and Recorder are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	runtimes := make(map[string]contract.Runtime, len(cfg.Runtimes))
	for k, rt := range cfg.Runtimes {
		if rt == nil {
			return nil, fmt.Errorf("agent: Runtimes[%d] is nil", k)
		}
		typ := rt.FunctionType()
		if typ == "" {
			return nil, fmt.Errorf("agent: Runtimes[%d] has an empty function type", k)
		}
		if _, dup := runtimes[typ]; dup {
			return nil, fmt.Errorf("agent: two runtimes for function type %q", typ)
		}
		runtimes[typ] = rt
	}
	cfg.NodeID = uuid.MustParse(cfg.NodeID).String()
	a := &Agent{
		cfg:       cfg,
		log:       cfg.Logger.With(slog.String("component", "agent")),
		adminID:   contract.InstanceID{NodeID: cfg.NodeID, FunctionID: uuid.NewString()},
		runtimes:  runtimes,
		instances: make(map[string]*instance),
		exits:     newExitLog(),
	}
	cfg.Recorder.Metrics().InstanceStates(instanceStates, a.countStates)
	return a, nil
}

// Runtimes returns the function types this node can run (those of
// Config.Runtimes), sorted; the node announces them in its registration.
func (a *Agent) Runtimes() []string {
	return slices.Sorted(maps.Keys(a.runtimes))
}

// Handler returns the agent API: the three gRPC services and the admin API,
// on one mux.
func (a *Agent) Handler() http.Handler {
	opts := transport.HandlerOptions(transport.ControlMaxBytes)
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewFunctionInstanceHandler(a, opts...))
	mux.Handle(edgelessapiconnect.NewNodeManagementHandler(a, opts...))
	var rc edgelessapiconnect.ResourceConfigurationHandler = resourceConfiguration{a}
	if a.cfg.Resources != nil {
		rc = resources.Service{M: a.cfg.Resources}
	}
	mux.Handle(edgelessapiconnect.NewResourceConfigurationHandler(rc, opts...))
	admin := http.NewServeMux()
	a.mountAdmin(admin)
	mux.Handle("/admin/v1/", adminguard.Handler(admin, adminguard.OctetStream, adminguard.JSON))
	return mux
}

// startError is a StartComponentResponse carrying a ResponseError.
func startError(summary, detail string) *edgelessapi.StartComponentResponse {
	return &edgelessapi.StartComponentResponse{ResponseError: &edgelessapi.ResponseError{Summary: summary, Detail: &detail}}
}

const startFailed = "Error when creating a function instance"

// Start creates a function instance and answers once it is initialized.
func (a *Agent) Start(ctx context.Context, req *edgelessapi.SpawnFunctionRequest) (*edgelessapi.StartComponentResponse, error) {
	received := time.Now()
	spec := req.GetCode()
	if spec == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("Request does not contain actor class."))
	}
	ss := req.GetStateSpecification()
	if ss == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("Request does not contain state_spec."))
	}
	stateID, err := uuid.Parse(ss.GetStateId())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("state_specification.state_id %q is not a UUID", contract.Shorten(ss.GetStateId())))
	}
	rt, ok := a.runtimes[spec.GetFunctionType()]
	if !ok {
		have := "none"
		if r := a.Runtimes(); len(r) > 0 {
			have = strings.Join(r, ", ")
		}
		a.cfg.Recorder.StartFailed()
		return startError(startFailed, fmt.Sprintf("Could not find runner for %q; this node has runtimes: %s", spec.GetFunctionType(), have)), nil
	}
	if spec.GetCode() == "" && len(spec.GetBinary()) == 0 {
		a.cfg.Recorder.StartFailed()
		return startError(startFailed, fmt.Sprintf("function class %q of type %s has no code", spec.GetId(), spec.GetFunctionType())), nil
	}

	in := &instance{
		id:         contract.InstanceID{NodeID: a.cfg.NodeID, FunctionID: uuid.NewString()},
		classID:    spec.GetId(),
		fnType:     spec.GetFunctionType(),
		workflowID: req.GetWorkflowId(),
		stateID:    stateID.String(),
		policy:     ss.GetPolicy(),
		code:       spec.GetCode(),
		state:      stateStarting,
		requested:  received,
		started:    make(chan struct{}),
	}
	log := a.log.With(slog.String("instance", in.id.FunctionID), slog.String("class", in.classID), slog.String("workflow", in.workflowID))

	initState, err := a.loadState(in)
	if err != nil {
		a.cfg.Recorder.StartFailed()
		log.Error("start: load state", "error", err)
		return startError(startFailed, err.Error()), nil
	}

	in.mbox = a.cfg.Dataplane.Register(in.id)
	startCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	in.cancelStart = cancel
	if err := a.add(in); err != nil {
		a.cfg.Dataplane.Unregister(in.id)
		a.cfg.Recorder.StartFailed()
		return startError(startFailed, err.Error()), nil
	}

	log.Info("starting instance", "type", in.fnType, "code", in.code, "policy", in.policy.String())
	inst, err := rt.Start(startCtx, contract.StartSpec{
		ID:           in.id,
		ClassID:      in.classID,
		FunctionType: in.fnType,
		Code:         in.code,
		Binary:       spec.GetBinary(),
		Annotations:  maps.Clone(req.GetAnnotations()),
		InitPayload:  req.GetAnnotations()[contract.AnnotationInitPayload],
		State:        initState,
		Host:         instanceHost{a: a, in: in, mbox: in.mbox},
		OnExit:       func(info contract.ExitInfo) { a.exited(in, info) },
	})
	if err != nil {
		a.remove(in)
		a.cfg.Dataplane.Unregister(in.id)
		close(in.started)
		a.cfg.Recorder.StartFailed()
		log.Error("start instance", "error", err)
		return startError(startFailed, err.Error()), nil
	}
	in.setRunning(inst)
	in.mbox.Attach(newMeteredReceiver(inst, a.cfg.Recorder, func(n int) { a.unresponsive(in, n) }))
	close(in.started)
	if in.currentState() == stateStopping {
		// A Stop or Reset came while the instance was starting: it stops
		// the instance now, so the orchestrator must not count it.
		a.cfg.Recorder.StartFailed()
		log.Info("instance stopped while starting")
		return startError(startFailed, "the instance was stopped while it was starting"), nil
	}

	info := inst.Info()
	// Upstream's "instantiate" time covers the Docker calls and Boot.
	instantiate := info.ImageDuration + info.CreateDuration + info.BootDuration
	a.cfg.Recorder.InstanceStarted(in.id.FunctionID, time.Since(received), instantiate, info.BootDuration, info.InitDuration)
	log.Info("instance started", "container", info.ContainerName, "image", info.ImageDuration,
		"create", info.CreateDuration, "boot", info.BootDuration, "init", info.InitDuration)
	return &edgelessapi.StartComponentResponse{InstanceId: variant(in.id)}, nil
}

func variant(id contract.InstanceID) *edgelessapi.InstanceIdVariant {
	return &edgelessapi.InstanceIdVariant{InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{
		InstanceId: &edgelessapi.InstanceId{NodeId: id.NodeID, FunctionId: id.FunctionID},
	}}
}

// loadState returns the saved state of a NodeLocal instance (nil if none).
func (a *Agent) loadState(in *instance) ([]byte, error) {
	if in.policy != edgelessapi.StatePolicy_NODE_LOCAL {
		return nil, nil
	}
	data, _, err := a.cfg.States.Load(in.stateID)
	return data, err
}

// sync saves the state of a NodeLocal instance; other policies keep none,
// as upstream (which has no Global provider).
func (a *Agent) sync(in *instance, st []byte) error {
	if in.policy != edgelessapi.StatePolicy_NODE_LOCAL {
		a.log.Debug("sync ignored: state policy keeps no state", "instance", in.id.FunctionID, "policy", in.policy.String())
		return nil
	}
	return a.cfg.States.Save(in.stateID, st)
}

// exited records an instance whose container ended on its own. It stays in
// the table (state exited) until the orchestrator stops it.
func (a *Agent) exited(in *instance, info contract.ExitInfo) {
	in.mu.Lock()
	in.state = stateExited
	in.exit = &info
	in.mu.Unlock()
	a.exits.add(adminapi.Exit{FunctionID: in.id.FunctionID, WorkflowID: in.workflowID, Reason: info.Reason,
		ExitCode: info.ExitCode, At: time.Now().UTC(), LastLogs: info.LastLogs})
	a.cfg.Recorder.InstanceExited(info.Reason)
	a.log.Warn("instance ended on its own", "instance", in.id.FunctionID, "class", in.classID,
		"reason", info.Reason, "exit_code", info.ExitCode, "last_logs", strings.Join(info.LastLogs, " | "))
}

// unresponsive reports an instance that let n events in a row pass their
// deadline: to the orchestrator it has crashed, so that it is replaced (the
// replacement's start stops it). The node keeps it until it is stopped.
func (a *Agent) unresponsive(in *instance, n int) {
	info := contract.ExitInfo{ID: in.id, Reason: fmt.Sprintf("unresponsive: %d events in a row passed their deadline", n), ExitCode: -1}
	in.mu.Lock()
	if in.state != stateRunning || in.exit != nil {
		in.mu.Unlock()
		return
	}
	in.exit = &info
	in.mu.Unlock()
	a.exits.add(adminapi.Exit{FunctionID: in.id.FunctionID, WorkflowID: in.workflowID, Reason: info.Reason,
		ExitCode: info.ExitCode, At: time.Now().UTC()})
	a.log.Warn("instance unresponsive: reported to the orchestrator as crashed", "instance", in.id.FunctionID,
		"class", in.classID, "missed_deadlines", n)
}

// add puts in into the table unless the agent is closed.
func (a *Agent) add(in *instance) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("the node is shutting down")
	}
	a.instances[in.id.FunctionID] = in
	return nil
}

func (a *Agent) remove(in *instance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.instances[in.id.FunctionID] == in {
		delete(a.instances, in.id.FunctionID)
	}
}

func (a *Agent) lookup(functionID string) (*instance, bool) {
	u, err := uuid.Parse(functionID)
	if err != nil {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	in, ok := a.instances[u.String()]
	return in, ok
}

func (a *Agent) all() []*instance {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Collect(maps.Values(a.instances))
	sort.Slice(out, func(i, j int) bool { return out[i].requested.Before(out[j].requested) })
	return out
}

// Stop stops an instance and removes its container. Stopping an unknown or
// already stopped instance succeeds.
func (a *Agent) Stop(ctx context.Context, req *edgelessapi.InstanceIdVariant) (*emptypb.Empty, error) {
	id := req.GetInstanceId()
	if id == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("Wrong Type: want an InstanceId, not a DomainManagedInstanceId"))
	}
	nodeID, err1 := uuid.Parse(id.GetNodeId())
	fid, err2 := uuid.Parse(id.GetFunctionId())
	if err1 != nil || err2 != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("instance id %q/%q: want two UUIDs", contract.Shorten(id.GetNodeId()), contract.Shorten(id.GetFunctionId())))
	}
	if nodeID.String() != a.cfg.NodeID {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("instance %s belongs to node %s, not to this node %s", fid, nodeID, a.cfg.NodeID))
	}
	in, ok := a.lookup(fid.String())
	if !ok {
		a.log.Info("stop: no such instance (already stopped?)", "instance", fid.String())
		return &emptypb.Empty{}, nil
	}
	if err := a.stop(ctx, in); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return &emptypb.Empty{}, nil
}

// stop stops in (once; concurrent callers wait for the same stop) and
// removes it from the table and the data plane.
func (a *Agent) stop(ctx context.Context, in *instance) error {
	in.stopOnce.Do(func() {
		in.stopDone = make(chan struct{})
		go func() {
			defer close(in.stopDone)
			in.stopErr = a.doStop(in)
		}()
	})
	select {
	case <-in.stopDone:
		return in.stopErr
	case <-ctx.Done():
		return fmt.Errorf("stop instance %s: %w", in.id.FunctionID, ctx.Err())
	}
}

func (a *Agent) doStop(in *instance) error {
	t0 := time.Now()
	in.mu.Lock()
	in.state = stateStopping
	in.mu.Unlock()
	// A start still in progress is cancelled; the runtime removes what it
	// created.
	in.cancelStart()
	<-in.started
	var err error
	if inst := in.runtimeInstance(); inst != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.StopTimeout)
		err = inst.Stop(ctx)
		cancel()
	}
	a.cfg.Dataplane.Unregister(in.id)
	a.remove(in)
	a.cfg.Recorder.InstanceStopped(in.id.FunctionID, time.Since(t0))
	if err != nil {
		a.log.Error("stop instance", "instance", in.id.FunctionID, "error", err)
		return fmt.Errorf("stop instance %s: %w", in.id.FunctionID, err)
	}
	a.log.Info("instance stopped", "instance", in.id.FunctionID, "took", time.Since(t0))
	return nil
}

// Patch replaces an instance's output mapping. Entries whose target is not
// a pair of UUIDs are dropped with a warning, as upstream drops them.
func (a *Agent) Patch(ctx context.Context, req *edgelessapi.PatchRequest) (*emptypb.Empty, error) {
	in, ok := a.lookup(req.GetFunctionId())
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("patch: no instance %q on this node", contract.Shorten(req.GetFunctionId())))
	}
	m := make(map[string]contract.InstanceID, len(req.GetOutputMapping()))
	for alias, target := range req.GetOutputMapping() {
		n, err1 := uuid.Parse(target.GetNodeId())
		f, err2 := uuid.Parse(target.GetFunctionId())
		if err1 != nil || err2 != nil {
			a.log.Warn("patch: dropping a mapping whose target is not an instance id", "instance", in.id.FunctionID,
				"alias", alias, "node_id", target.GetNodeId(), "function_id", target.GetFunctionId())
			continue
		}
		m[alias] = contract.InstanceID{NodeID: n.String(), FunctionID: f.String()}
	}
	in.mbox.SetAliases(m)
	a.log.Info("instance patched", "instance", in.id.FunctionID, "outputs", len(m))
	return &emptypb.Empty{}, nil
}

// StopAll stops every instance, in parallel, and waits for them.
func (a *Agent) StopAll(ctx context.Context) error {
	ins := a.all()
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() { errs[i] = a.stop(ctx, in) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close refuses new instances and stops every instance.
func (a *Agent) Close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	if a.cfg.Resources != nil {
		a.cfg.Resources.Close()
	}
	return a.StopAll(ctx)
}
