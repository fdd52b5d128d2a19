package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

// Instance is one function instance: a container (or, for grpc: code, an
// already running server) that the runtime booted and initialized. Its
// methods are safe for concurrent use.
type Instance struct {
	rt     *Runtime
	id     InstanceID
	spec   StartSpec
	code   functionCode
	limits Limits
	port   uint16
	log    *slog.Logger
	logs   *outputRing

	// conn is set once the function's endpoint is known; it is then
	// routable by the GuestAPIHost server.
	conn atomic.Pointer[connection]

	// alive is cancelled, with the reason as cause, when the instance
	// ends: pending calls, host requests and delayed casts then stop.
	alive context.Context
	kill  context.CancelCauseFunc

	// exited is closed once the container has ended (container kind).
	exited chan struct{}
	// logsDone is closed once the container's output has been read.
	logsDone chan struct{}
	// watchDone is closed when the watcher goroutine returns.
	watchDone chan struct{}
	// bg is cancelled at the end of teardown; it bounds the watcher and
	// the log reader.
	bg       context.Context
	bgCancel context.CancelFunc

	mu          sync.Mutex
	state       InstanceState
	ending      bool // teardown has begun
	containerID string
	watching    bool // watch and readLogs run
	startedAt   time.Time
	imageDur    time.Duration
	createDur   time.Duration
	bootDur     time.Duration
	initDur     time.Duration
	exit        *ExitInfo

	// owned counts goroutines teardown waits for (delayed casts).
	owned sync.WaitGroup
	// delayedPending counts the delayed casts waiting (under mu).
	delayedPending int

	teardownOnce sync.Once
	done         chan struct{}
	teardownErr  error
	stopOnce     sync.Once
	stopDone     chan struct{}
	stopErr      error

	dropped atomic.Int64
}

// connection is how the runtime reaches the function, and how the
// function's requests are recognised.
type connection struct {
	fn        edgelessapiconnect.GuestAPIFunctionClient
	transport *http.Transport
	endpoint  string
	// peer is the container's bridge address; invalid for grpc:.
	peer netip.Addr
}

// newInstance validates spec and builds an instance in state starting.
func (r *Runtime) newInstance(spec StartSpec) (*Instance, error) {
	n, err1 := uuid.Parse(spec.ID.NodeID)
	f, err2 := uuid.Parse(spec.ID.FunctionID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("start instance %s/%s: bad id: %w", spec.ID.NodeID, spec.ID.FunctionID, err)
	}
	spec.ID = InstanceID{NodeID: n.String(), FunctionID: f.String()}
	if spec.ID.NodeID != r.cfg.NodeID {
		return nil, fmt.Errorf("start instance %s: node id %s is not this node's (%s)", spec.ID.FunctionID, spec.ID.NodeID, r.cfg.NodeID)
	}
	if spec.Host == nil {
		return nil, fmt.Errorf("start instance %s: no InstanceHost", spec.ID.FunctionID)
	}
	code, err := parseCode(spec.Code)
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.ID.FunctionID, err)
	}
	limits, err := LimitsFromAnnotations(r.cfg.Defaults, spec.Annotations)
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.ID.FunctionID, err)
	}
	port, err := portFromAnnotations(spec.Annotations)
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.ID.FunctionID, err)
	}
	if code.kind == kindContainer && r.docker == nil {
		return nil, fmt.Errorf("start instance %s: code %q needs Docker, and this runtime has none", spec.ID.FunctionID, spec.Code)
	}
	i := &Instance{
		rt:        r,
		id:        spec.ID,
		spec:      spec,
		code:      code,
		limits:    limits,
		port:      port,
		log:       r.log.With(slog.String("instance", spec.ID.FunctionID)),
		logs:      newOutputRing(r.cfg.LogLines),
		exited:    make(chan struct{}),
		logsDone:  make(chan struct{}),
		watchDone: make(chan struct{}),
		done:      make(chan struct{}),
		stopDone:  make(chan struct{}),
		state:     StateStarting,
		startedAt: time.Now(),
	}
	i.alive, i.kill = context.WithCancelCause(context.Background())
	i.bg, i.bgCancel = context.WithCancel(context.Background())
	return i, nil
}

// ID returns the instance's identifier.
func (i *Instance) ID() InstanceID { return i.id }

// Info returns a snapshot of the instance's description and state.
func (i *Instance) Info() InstanceInfo {
	i.mu.Lock()
	defer i.mu.Unlock()
	info := InstanceInfo{
		ID:             i.id,
		ClassID:        i.spec.ClassID,
		Code:           i.spec.Code,
		Image:          i.code.image,
		ContainerID:    i.containerID,
		State:          i.state,
		StartedAt:      i.startedAt,
		ImageDuration:  i.imageDur,
		CreateDuration: i.createDur,
		BootDuration:   i.bootDur,
		InitDuration:   i.initDur,
		DroppedCasts:   i.dropped.Load(),
	}
	if i.code.kind == kindContainer {
		info.ContainerName = i.containerName()
	}
	if cn := i.conn.Load(); cn != nil {
		info.Endpoint = cn.endpoint
	}
	if i.exit != nil {
		e := *i.exit
		info.Exit = &e
	}
	return info
}

// Limits returns the resource limits applied to the instance's container.
func (i *Instance) Limits() Limits { return i.limits }

// Logs returns the most recent lines the instance's container wrote,
// oldest first.
func (i *Instance) Logs() []LogLine { return i.logs.snapshot() }

// containerName is the Docker name of the instance's container.
func (i *Instance) containerName() string { return ContainerNamePrefix + i.id.FunctionID }

// start brings the instance up: container (if any), Boot, Init.
func (i *Instance) start(ctx context.Context) error {
	// Abort as soon as the instance ends (exit, Stop, Close) or ctx is done.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(i.alive, func() { cancel(context.Cause(i.alive)) })
	defer stop()

	var err error
	switch i.code.kind {
	case kindContainer:
		err = i.startContainer(ctx)
	case kindGRPC:
		i.setConn(i.code.url, netip.Addr{})
	}
	booting := time.Now()
	if err == nil {
		err = i.boot(ctx)
	}
	if err == nil {
		i.mu.Lock()
		i.bootDur = time.Since(booting)
		i.mu.Unlock()
		err = i.init(ctx)
	}
	if err != nil {
		return i.startError(ctx, err)
	}
	// The watcher decides under the same lock whether an exit is a
	// failed start or the end of a running instance.
	i.mu.Lock()
	ending, exited := i.ending, isClosed(i.exited)
	if !ending && !exited {
		i.state = StateRunning
	}
	bootDur, initDur := i.bootDur, i.initDur
	i.mu.Unlock()
	switch {
	case ending:
		return fmt.Errorf("start instance %s: %w", i.id.FunctionID, context.Cause(i.alive))
	case exited:
		return i.startError(ctx, errors.New("container ended right after Init"))
	}
	i.log.Info("instance started", slog.String("code", i.spec.Code),
		slog.Duration("boot", bootDur), slog.Duration("init", initDur))
	return nil
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// startError explains why the start failed: the container's exit (with its
// last output), the instance being stopped, or err.
func (i *Instance) startError(ctx context.Context, err error) error {
	select {
	case <-i.exited:
		waitBounded(i.logsDone, time.Second)
		i.mu.Lock()
		ex := *i.exit
		i.mu.Unlock()
		return &BootError{ID: i.id, Image: i.code.image, Exited: true, ExitCode: ex.ExitCode,
			Reason: ex.Reason, LastLogs: i.logs.tail(exitLogLines), Err: err}
	default:
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		if errors.Is(cause, ErrInstanceStopped) || errors.Is(cause, ErrRuntimeClosed) {
			return fmt.Errorf("start instance %s: %w", i.id.FunctionID, cause)
		}
	}
	var be *BootError
	if errors.As(err, &be) {
		be.LastLogs = i.logs.tail(exitLogLines)
		return be
	}
	return fmt.Errorf("start instance %s: %w", i.id.FunctionID, err)
}

// startContainer creates and starts the container and learns its address.
func (i *Instance) startContainer(ctx context.Context) error {
	d := i.rt.docker
	name := i.containerName()
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	t0 := time.Now()
	if err := checkImage(dctx, d, i.code.image); err != nil {
		return err
	}
	t1 := time.Now()
	defer func() {
		i.mu.Lock()
		i.imageDur, i.createDur = t1.Sub(t0), time.Since(t1)
		i.mu.Unlock()
	}()
	// Create is not cancelled with Start: the engine may create the
	// container even when the request is abandoned, and then this id is
	// the only way to remove it.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), dockerTimeout)
	defer ccancel()
	id, err := createContainer(cctx, d, createParams{
		name:  name,
		image: i.code.image,
		labels: map[string]string{
			LabelNodeID:        i.id.NodeID,
			LabelInstanceID:    i.id.FunctionID,
			LabelFunctionClass: i.spec.ClassID,
			LabelImage:         i.code.image,
			LabelStarted:       strconv.FormatInt(i.startedAt.Unix(), 10),
		},
		port:    i.port,
		publish: i.rt.cfg.PublishPort,
		limits:  i.limits,
	})
	if err != nil {
		return err
	}
	i.mu.Lock()
	ending := i.ending
	if !ending {
		i.containerID = id
	}
	i.mu.Unlock()
	if ending {
		// teardown has begun without this id: remove the container here.
		if err := removeContainer(context.WithoutCancel(dctx), d, id); err != nil {
			return err
		}
		return fmt.Errorf("start container %s: %w", name, context.Cause(i.alive))
	}
	if _, err := d.ContainerStart(dctx, id, startOptions); err != nil {
		return fmt.Errorf("start container %s: %w", name, err)
	}
	ins, err := d.ContainerInspect(dctx, id, inspectOptions)
	i.mu.Lock()
	if i.ending {
		i.mu.Unlock()
		return fmt.Errorf("start container %s: %w", name, context.Cause(i.alive))
	}
	i.watching = true
	i.mu.Unlock()
	// Notice the container's end at once (engine wait; an exit that came
	// first is reported too), and read its output. Started after inspect
	// so as not to queue behind it in the engine.
	go i.watch(id)
	go i.readLogs(id)
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", name, err)
	}
	ip, ap, err := containerEndpoint(ins.Container, i.port, i.rt.cfg.PublishPort)
	if err != nil {
		if st := ins.Container.State; st != nil && !st.Running {
			// Ended at once: let the watcher record how (startError
			// turns that into a BootError with the last output).
			waitBounded(i.exited, 2*time.Second)
		}
		return fmt.Errorf("container %s: %w", name, err)
	}
	i.setConn("http://"+ap.String(), ip)
	return nil
}

// setConn makes the instance reachable and routable.
func (i *Instance) setConn(endpoint string, peer netip.Addr) {
	hc, tr := newFunctionHTTPClient()
	cn := &connection{
		fn:        newFunctionClient(hc, endpoint),
		transport: tr,
		endpoint:  endpoint,
		peer:      peer,
	}
	if peer.IsValid() {
		i.rt.byPeer.Store(peer, i)
	}
	i.conn.Store(cn)
}

// peerAllowed reports whether a request from peer may act as i. See
// doc.go, "Who may call as an instance".
func (i *Instance) peerAllowed(cn *connection, peer netip.Addr) bool {
	if cn.peer.IsValid() {
		if peer != cn.peer {
			return false
		}
		// The address must still be this instance's, not a newer
		// container's that Docker gave the same address.
		owner, ok := i.rt.byPeer.Load(peer)
		return ok && owner == i
	}
	return isHostAddr(peer)
}

// maxBootBackoff caps the pause between Boot attempts.
const maxBootBackoff = 10 * time.Millisecond

// boot calls Boot until it succeeds, with backoff from 2 ms, under the boot
// deadline; it fails at once if the container ends.
func (i *Instance) boot(ctx context.Context) error {
	cn := i.conn.Load()
	req := &edgelessapi.BootData{
		GuestApiHostEndpoint: i.rt.cfg.GuestAPIHostURL,
		InstanceId:           toProtoID(i.id),
	}
	deadline := i.startedAt.Add(i.rt.cfg.BootTimeout)
	bctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	backoff := 2 * time.Millisecond
	var t *time.Timer
	for attempt := 1; ; attempt++ {
		_, err := cn.fn.Boot(bctx, req)
		if err == nil {
			return nil
		}
		if !retryableBoot(err) {
			return &BootError{ID: i.id, Image: i.code.image, Err: fmt.Errorf("boot rejected: %w", err)}
		}
		if t == nil {
			t = time.NewTimer(backoff)
			defer t.Stop()
		} else {
			t.Reset(backoff)
		}
		select {
		case <-t.C:
		case <-i.exited:
			return &BootError{ID: i.id, Image: i.code.image, Err: fmt.Errorf("last boot attempt: %w", err)}
		case <-bctx.Done():
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return &BootError{ID: i.id, Image: i.code.image,
				Err: fmt.Errorf("not booted within %v (%d attempts, last: %w)", i.rt.cfg.BootTimeout, attempt, err)}
		}
		// Refused attempts cost ~0.1 ms: keep polling fast, since every
		// millisecond of lag adds to the cold start.
		backoff = min(backoff*2, maxBootBackoff)
	}
}

// init calls Init with the init payload and the saved state.
func (i *Instance) init(ctx context.Context) error {
	cn := i.conn.Load()
	ictx, cancel := context.WithTimeout(ctx, i.rt.cfg.InitTimeout)
	defer cancel()
	t0 := time.Now()
	_, err := cn.fn.Init(ictx, &edgelessapi.FunctionInstanceInit{
		InitPayload:     i.spec.InitPayload,
		SerializedState: i.spec.State,
	})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	i.mu.Lock()
	i.initDur = time.Since(t0)
	i.mu.Unlock()
	return nil
}

// Cast forwards a one-way event from src to the instance, under the
// runtime's call deadline. It fails at once if the instance has ended.
func (i *Instance) Cast(ctx context.Context, src InstanceID, msg []byte) error {
	cn, err := i.usable("cast")
	if err != nil {
		return err
	}
	ctx, cancel := i.callContext(ctx)
	defer cancel()
	if _, err := cn.fn.Cast(ctx, &edgelessapi.InputEventData{Src: toProtoID(src), Msg: msg}); err != nil {
		return i.callError(ctx, "cast", err)
	}
	return nil
}

// Call forwards an event from src to the instance and returns its reply,
// under the runtime's call deadline. It fails at once if the instance has
// ended, and a pending call fails as soon as the container dies.
func (i *Instance) Call(ctx context.Context, src InstanceID, msg []byte) (Reply, error) {
	cn, err := i.usable("call")
	if err != nil {
		return Reply{}, err
	}
	ctx, cancel := i.callContext(ctx)
	defer cancel()
	res, err := cn.fn.Call(ctx, &edgelessapi.InputEventData{Src: toProtoID(src), Msg: msg})
	if err != nil {
		return Reply{}, i.callError(ctx, "call", err)
	}
	if _, ok := edgelessapi.CallRetType_name[int32(res.GetType())]; !ok {
		return Reply{}, fmt.Errorf("call instance %s: ill-formed CallReturn: type %d", i.id.FunctionID, res.GetType())
	}
	return Reply{Type: res.GetType(), Msg: res.GetMsg()}, nil
}

// usable returns the connection if the instance takes calls.
func (i *Instance) usable(op string) (*connection, error) {
	if err := context.Cause(i.alive); err != nil {
		return nil, fmt.Errorf("%s instance %s: %w", op, i.id.FunctionID, err)
	}
	i.mu.Lock()
	st := i.state
	i.mu.Unlock()
	cn := i.conn.Load()
	if st == StateStopping {
		return nil, fmt.Errorf("%s instance %s: %w (stopping)", op, i.id.FunctionID, ErrInstanceStopped)
	}
	if st != StateRunning || cn == nil {
		return nil, fmt.Errorf("%s instance %s: %w (state %s)", op, i.id.FunctionID, ErrInstanceNotRunning, st)
	}
	return cn, nil
}

// callContext derives the context of a forwarded call: the caller's, ended
// early when the instance ends, and bounded by the call deadline.
func (i *Instance) callContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(i.alive, func() { cancel(context.Cause(i.alive)) })
	tctx, tcancel := context.WithTimeout(ctx, i.rt.cfg.CallTimeout)
	return tctx, func() {
		tcancel()
		stop()
		cancel(nil)
	}
}

// hostContext derives the context of a GuestAPIHost request: ended when
// the instance ends, and bounded by the call deadline unless the function
// sent a shorter one.
func (i *Instance) hostContext(parent context.Context) (context.Context, context.CancelFunc) {
	return i.callContext(parent)
}

// callError explains a failed forwarded call, preferring the instance's
// end (exit or stop) over the transport error it caused.
func (i *Instance) callError(ctx context.Context, op string, err error) error {
	if i.code.kind == kindContainer && context.Cause(i.alive) == nil && transportFailure(err) {
		// A dead container breaks the connection, often just before the
		// engine reports its end: give the watcher a moment to say why.
		waitBounded(i.exited, time.Second)
		waitBounded(i.alive.Done(), 100*time.Millisecond)
	}
	if cause := context.Cause(i.alive); cause != nil {
		return fmt.Errorf("%s instance %s: %w", op, i.id.FunctionID, cause)
	}
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("%s instance %s: no answer within the call deadline: %w", op, i.id.FunctionID, err)
	}
	return fmt.Errorf("%s instance %s: %w", op, i.id.FunctionID, err)
}

// dropCast records a cast to an unmapped alias.
func (i *Instance) dropCast(alias string) {
	n := i.dropped.Add(1)
	i.rt.droppedCasts.Add(1)
	i.log.Info("cast to unmapped alias dropped", slog.String("alias", alias), slog.Int64("dropped", n))
}

// Stop stops the instance: the Stop RPC (bounded by Config.StopTimeout),
// then SIGTERM and, after Config.StopGrace, SIGKILL, then the container is
// removed. Calls in flight fail. Stop is idempotent; every caller waits
// for the same outcome, or until its ctx is done. Stopping an instance that
// has already ended returns nil.
func (i *Instance) Stop(ctx context.Context) error {
	i.stopOnce.Do(func() {
		go func() {
			i.stopErr = i.stop()
			close(i.stopDone)
		}()
	})
	select {
	case <-i.stopDone:
		return i.stopErr
	case <-ctx.Done():
		return fmt.Errorf("stop instance %s: %w", i.id.FunctionID, ctx.Err())
	}
}

func (i *Instance) stop() error {
	i.mu.Lock()
	st := i.state
	ending := i.ending
	if st == StateRunning {
		i.state = StateStopping
	}
	i.mu.Unlock()
	if ending {
		<-i.done
		return nil
	}
	if st == StateRunning {
		if cn := i.conn.Load(); cn != nil {
			// Let the function finish (and Sync) while its host requests
			// are still served; give up early if the container ends.
			sctx, cancel := context.WithTimeout(i.alive, i.rt.cfg.StopTimeout)
			_, err := cn.fn.Stop(sctx, emptyMsg)
			cancel()
			if err != nil && context.Cause(i.alive) == nil {
				i.log.Warn("stop rpc failed; stopping the container anyway", slog.Any("error", err))
			}
			// An HTTP/2 server shutting down on SIGTERM waits (about 1 s)
			// for its clients to close idle connections: close ours now,
			// so that the function exits at once instead of using up the
			// stop grace.
			cn.transport.CloseIdleConnections()
		}
	}
	err := i.teardown(ErrInstanceStopped, StateStopped)
	if err != nil {
		return fmt.Errorf("stop instance %s: %w", i.id.FunctionID, err)
	}
	return nil
}

// teardown ends the instance once: pending work is cancelled with cause,
// the container (if any) gets SIGTERM, then after the grace period is
// force-removed, and the instance leaves the registry. Every caller waits
// for it to finish.
func (i *Instance) teardown(cause error, final InstanceState) error {
	return i.teardownFrom(cause, final, false)
}

// teardownFrom is teardown; byWatcher is set when the watcher goroutine
// itself calls it, which must then not wait for the watcher to return.
func (i *Instance) teardownFrom(cause error, final InstanceState, byWatcher bool) error {
	i.teardownOnce.Do(func() {
		i.mu.Lock()
		i.ending = true
		cid := i.containerID
		watching := i.watching
		i.mu.Unlock()
		i.kill(cause)

		var errs []error
		if cid != "" {
			// A failed start has nothing to shut down gracefully.
			errs = append(errs, i.removeContainer(cid, watching && final != StateFailed))
			// The log reader ends with the container's output stream.
			if watching && !waitBounded(i.logsDone, 2*time.Second) {
				i.log.Warn("container output still open after removal")
			}
		}
		i.bgCancel()
		if watching {
			if !byWatcher {
				<-i.watchDone
			}
			<-i.logsDone
		}
		i.rt.deregister(i)
		if cn := i.conn.Load(); cn != nil {
			cn.transport.CloseIdleConnections()
		}
		i.mu.Lock()
		i.state = final
		if final == StateExited || final == StateFailed {
			if i.exit != nil && final == StateExited {
				i.exit.LastLogs = i.logs.tail(exitLogLines)
			}
		}
		i.mu.Unlock()
		i.owned.Wait()
		i.teardownErr = errors.Join(errs...)
		if i.teardownErr != nil {
			i.log.Error("instance teardown", slog.Any("error", i.teardownErr))
		} else {
			i.log.Debug("instance gone", slog.String("state", string(final)))
		}
		close(i.done)
	})
	<-i.done
	return i.teardownErr
}

// removeContainer, if graceful, sends SIGTERM (unless the container has
// ended) and waits up to the grace period for it to end; then it
// force-removes the container.
func (i *Instance) removeContainer(cid string, graceful bool) error {
	d := i.rt.docker
	ctx, cancel := context.WithTimeout(context.Background(), i.rt.cfg.StopGrace+2*dockerTimeout)
	defer cancel()
	select {
	case <-i.exited:
	default:
		if !graceful {
			break
		}
		kctx, kcancel := context.WithTimeout(ctx, dockerTimeout)
		_, err := d.ContainerKill(kctx, cid, killTerm)
		kcancel()
		if err == nil {
			waitBounded(i.exited, i.rt.cfg.StopGrace)
		}
	}
	rctx, rcancel := context.WithTimeout(ctx, dockerTimeout)
	defer rcancel()
	return removeContainer(rctx, d, cid)
}

// waitBounded waits for ch to close, at most d; it reports whether it did.
func waitBounded(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
