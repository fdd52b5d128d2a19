package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

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
		if i.pooled != nil {
			err = i.startPooled() // pool.go
		} else {
			err = i.startContainer(ctx)
		}
	case kindGRPC:
		err = i.setConn(i.code.url, netip.Addr{})
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
	// containerEndedOnItsOwn, which runs after the container's end is
	// visible here, decides under the same lock whether the exit is a
	// failed start or the end of a running instance.
	i.mu.Lock()
	ending, exited := i.ending, isClosed(i.containerEnded())
	if !ending && !exited {
		i.state = contract.StateRunning
	}
	bootDur, initDur := i.bootDur, i.initDur
	i.mu.Unlock()
	switch {
	case ending:
		return fmt.Errorf("start instance %s: %w", i.id.FunctionID, context.Cause(i.alive))
	case exited:
		return i.startError(ctx, errors.New("container ended right after Init"))
	}
	transport := "tcp"
	if cn := i.conn.Load(); cn != nil && cn.socket {
		transport = "unix"
		i.rt.socketInstances.Add(1)
	}
	i.log.Info("instance started", slog.String("code", i.spec.Code), slog.String("transport", transport),
		slog.Duration("boot", bootDur), slog.Duration("init", initDur))
	return nil
}

// containerEnded returns a channel closed once the instance's container has
// ended; nil (never ready) for grpc: instances.
func (i *Instance) containerEnded() <-chan struct{} {
	if i.ctr == nil {
		return nil
	}
	return i.ctr.ended()
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
	if ex, ok := i.containerExit(); ok {
		i.ctr.waitOutput(time.Second)
		return &BootError{ID: i.id, Image: i.code.image, Exited: true, ExitCode: ex.ExitCode,
			Reason: ex.Reason, LastLogs: i.logs.tail(exitLogLines), Err: err}
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		if errors.Is(cause, contract.ErrInstanceStopped) || errors.Is(cause, contract.ErrRuntimeClosed) {
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

// containerExit returns how the instance's container ended; ok is false
// while it runs (or for grpc: instances).
func (i *Instance) containerExit() (contract.ExitInfo, bool) {
	if i.ctr == nil {
		return contract.ExitInfo{}, false
	}
	return i.ctr.exitInfo()
}

// startContainer checks the image, creates and starts the container and
// learns its address.
func (i *Instance) startContainer(ctx context.Context) error {
	t0 := time.Now()
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	err := checkImage(dctx, i.rt.docker, i.code.image)
	cancel()
	if err != nil {
		return err
	}
	t1 := time.Now()
	defer func() {
		i.mu.Lock()
		i.imageDur, i.createDur = t1.Sub(t0), time.Since(t1)
		i.mu.Unlock()
	}()
	guestDir, err := i.rt.attachGuestSockets(i.ctr, i.log)
	if err != nil {
		return i.handleError(err)
	}
	if s := i.ctr.sockets(); s != nil {
		s.bind(i)
	}
	err = i.ctr.create(ctx, createParams{
		name:  i.containerName(),
		image: i.code.image,
		labels: map[string]string{
			LabelNodeID:        i.id.NodeID,
			LabelInstanceID:    i.id.FunctionID,
			LabelFunctionClass: i.spec.ClassID,
			LabelImage:         i.code.image,
			LabelStarted:       strconv.FormatInt(i.startedAt.Unix(), 10),
		},
		port:     i.port,
		publish:  i.rt.cfg.PublishPort,
		limits:   i.limits,
		network:  i.rt.network.ID,
		guestDir: guestDir,
		hardening: hardening{
			capAdd:      i.rt.cfg.CapAdd,
			tmpfsBytes:  i.rt.cfg.TmpfsBytes,
			logMaxBytes: i.rt.cfg.LogMaxBytes,
			logMaxFiles: i.rt.cfg.LogMaxFiles,
		},
	})
	if err != nil {
		return i.handleError(err)
	}
	ip, ap, err := i.ctr.start(ctx, i.rt.network.Name, i.port, i.rt.cfg.PublishPort, i.containerEndedOnItsOwn)
	if err != nil {
		return i.handleError(err)
	}
	return i.setConn("http://"+ap.String(), ip)
}

// handleError explains errHandleRemoved by the instance's end.
func (i *Instance) handleError(err error) error {
	if errors.Is(err, errHandleRemoved) {
		return fmt.Errorf("start container %s: %w", i.containerName(), context.Cause(i.alive))
	}
	return err
}

// setConn makes the instance reachable and routable.
func (i *Instance) setConn(endpoint string, peer netip.Addr) error {
	cn, err := newConnection(endpoint, peer, i.rt.cfg.MaxPayloadBytes, i.secret, nil)
	if err != nil {
		return err
	}
	if peer.IsValid() {
		i.rt.byPeer.Store(peer, i)
	}
	i.conn.Store(cn)
	return nil
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

// useGuestSockets waits for the function to take connections and, if it
// uses its guest sockets (it dialled function.sock before it listened on
// TCP), switches the instance's client to them and names host.sock as the
// GuestAPIHost endpoint in req (if the host server serves it); it returns
// the connection to boot on. Otherwise, or once ctx is done or the
// container ended (boot then reports why), the instance keeps cn (TCP).
func (i *Instance) useGuestSockets(ctx context.Context, s *guestSockets, cn *connection, req *edgelessapi.BootData) *connection {
	u, err := url.Parse(cn.endpoint)
	if err != nil {
		return cn
	}
	bridge := ""
	if i.rt.cfg.PublishPort && cn.peer.IsValid() {
		bridge = netip.AddrPortFrom(cn.peer, i.port).String()
	}
	if !s.waitFunction(ctx, u.Host, bridge, i.containerEnded()) {
		return cn
	}
	scn, err := newConnection(cn.endpoint, cn.peer, i.rt.cfg.MaxPayloadBytes, i.secret, s.dialFunction)
	if err != nil {
		return cn
	}
	// Under mu, as startPooled: a teardown that has begun closes the
	// connection it loaded, so a new one stored now would stay open.
	i.mu.Lock()
	if i.ending {
		i.mu.Unlock()
		scn.close()
		return cn
	}
	i.conn.Store(scn)
	i.mu.Unlock()
	cn.close()
	// serveHost, not only a check: bind may have come before the
	// runtime's host server existed (Serve creates it on its own
	// goroutine, which a Start can overtake); the instance would then
	// call its host over TCP.
	if s.serveHost() {
		req.GuestApiHostEndpoint = guestHostEndpoint
	}
	i.log.Debug("function on guest sockets", slog.String("dir", s.dir), slog.String("host", req.GuestApiHostEndpoint))
	return scn
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
	if i.ctr != nil {
		if s := i.ctr.sockets(); s != nil {
			cn = i.useGuestSockets(bctx, s, cn, req)
		}
	}
	backoff := 2 * time.Millisecond
	var t *time.Timer
	for attempt := 1; ; attempt++ {
		err := cn.boot(bctx, req)
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
		case <-i.containerEnded():
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
		return &initError{err: err}
	}
	i.mu.Lock()
	i.initDur = time.Since(t0)
	i.mu.Unlock()
	return nil
}

// Cast forwards a one-way event from src to the instance, under the
// runtime's call deadline. It fails at once if the instance has ended.
func (i *Instance) Cast(ctx context.Context, src contract.InstanceID, msg []byte) error {
	cn, err := i.usable("cast")
	if err != nil {
		return err
	}
	ctx, cancel := i.forwardContext(ctx)
	defer cancel()
	if _, err := cn.fn.Cast(ctx, &edgelessapi.InputEventData{Src: toProtoID(src), Msg: msg}); err != nil {
		i.noticeDisowned(err)
		return i.callError(ctx, "cast", err)
	}
	return nil
}

// Call forwards an event from src to the instance and returns its reply,
// under the runtime's call deadline. It fails at once if the instance has
// ended, and a pending call fails as soon as the container dies.
func (i *Instance) Call(ctx context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error) {
	cn, err := i.usable("call")
	if err != nil {
		return contract.Reply{}, err
	}
	ctx, cancel := i.forwardContext(ctx)
	defer cancel()
	res, err := cn.fn.Call(ctx, &edgelessapi.InputEventData{Src: toProtoID(src), Msg: msg})
	if err != nil {
		i.noticeDisowned(err)
		return contract.Reply{}, i.callError(ctx, "call", err)
	}
	if _, ok := edgelessapi.CallRetType_name[int32(res.GetType())]; !ok {
		return contract.Reply{}, fmt.Errorf("call instance %s: ill-formed CallReturn: type %d", i.id.FunctionID, res.GetType())
	}
	return contract.Reply{Type: res.GetType(), Msg: res.GetMsg()}, nil
}

// ReasonNotRunning is the ExitInfo.Reason of an instance whose function
// said that it takes no events although the node did not stop it (someone
// else stopped it).
const ReasonNotRunning = "not-running"

// noticeDisowned ends a running instance whose function answered err =
// FAILED_PRECONDITION (it is not in a state to take events) although the
// node did not stop it: like an exit, pending and later calls fail with an
// ExitError, the container is removed and OnExit is called.
func (i *Instance) noticeDisowned(err error) {
	if !functionSent(err) || status.Code(err) != codes.FailedPrecondition {
		return
	}
	i.mu.Lock()
	mine := i.state == contract.StateRunning && !i.ending
	ex := contract.ExitInfo{ID: i.id, Reason: ReasonNotRunning, ExitCode: -1}
	if mine {
		// Like an exit: a Stop, Close or exit from now on waits for this
		// teardown.
		i.ending = true
		published := ex
		i.exit = &published
	}
	i.mu.Unlock()
	if !mine {
		return
	}
	i.log.Warn("function takes no events although the node did not stop it; ending the instance", slog.Any("error", err))
	exitErr := &ExitError{Info: ex}
	i.kill(exitErr)
	i.teardownFrom(exitErr, contract.StateExited, false)
	if i.spec.OnExit != nil {
		i.spec.OnExit(ex)
	}
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
	if st == contract.StateStopping {
		return nil, fmt.Errorf("%s instance %s: %w (stopping)", op, i.id.FunctionID, contract.ErrInstanceStopped)
	}
	if st != contract.StateRunning || cn == nil {
		return nil, fmt.Errorf("%s instance %s: %w (state %s)", op, i.id.FunctionID, contract.ErrInstanceNotRunning, st)
	}
	return cn, nil
}

// forwardContext derives the context of a cast or call forwarded to the
// function: like callContext, and ended as soon as Stop begins.
func (i *Instance) forwardContext(parent context.Context) (context.Context, context.CancelFunc) {
	return i.boundContext(parent, i.stopping)
}

// callContext derives the context of a forwarded call: the caller's, ended
// early when the instance ends, and bounded by the call deadline.
func (i *Instance) callContext(parent context.Context) (context.Context, context.CancelFunc) {
	return i.boundContext(parent, i.alive)
}

// boundContext derives from parent a context ended, with end's cause, when
// end is done, and bounded by the call deadline.
//
// A parent that ends within the call deadline needs no deadline of its
// own (context.WithTimeout would then only add a cancelCtx, registered
// with and removed from its parent): the data plane's delivery of a cast,
// and a function's host request that carries the node's deadline, have
// one. That saves an allocation and a registration per event on each side.
func (i *Instance) boundContext(parent, end context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(end, func() { cancel(context.Cause(end)) })
	if d, ok := parent.Deadline(); ok && !d.After(time.Now().Add(i.rt.cfg.CallTimeout)) {
		return ctx, func() {
			stop()
			cancel(nil)
		}
	}
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
	if i.ctr != nil && context.Cause(i.alive) == nil && transportFailure(err) {
		// A dead container breaks the connection before the engine reports
		// its end, later still on a busy host. If the function is gone
		// (nothing accepts on its port, or the engine says it does not
		// run), wait for the waiter to say why, however long the engine
		// takes (bounded only for a broken engine); if it still looks
		// alive, the function broke the call itself: give the waiter a
		// moment only.
		d := 2 * time.Second
		if !i.functionLooksAlive() {
			d = oomEventBound + 2*dockerTimeout
		}
		t := time.NewTimer(d)
		select {
		case <-i.ctr.ended():
		case <-i.ctr.bg.Done(): // removed: no end will be reported
		case <-i.stopping.Done():
		case <-ctx.Done(): // the caller's deadline
		case <-t.C:
		}
		t.Stop()
		waitBounded(i.alive.Done(), 100*time.Millisecond)
	}
	if cause := context.Cause(i.alive); cause != nil {
		return fmt.Errorf("%s instance %s: %w", op, i.id.FunctionID, cause)
	}
	if cause := context.Cause(i.stopping); cause != nil {
		return fmt.Errorf("%s instance %s: %w", op, i.id.FunctionID, cause)
	}
	if cause := context.Cause(ctx); (cause != nil && errors.Is(cause, context.DeadlineExceeded)) ||
		status.Code(err) == codes.DeadlineExceeded {
		// (The function may enforce the deadline it was sent a moment
		// before our timer.) grpc-go's status errors do not wrap the
		// context's error: callers test for it with errors.Is.
		return fmt.Errorf("%s instance %s: no answer within the call deadline (%w): %w", op, i.id.FunctionID, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("%s instance %s: %w", op, i.id.FunctionID, err)
}

// functionLooksAlive reports whether the function's port accepts a
// connection and the engine says its container runs. A dead function's
// port refuses at once (its network namespace outlives it until the
// engine has handled the exit); a port published through the engine's
// proxy may accept for a dead one, hence the engine's word as well.
func (i *Instance) functionLooksAlive() bool {
	cn := i.conn.Load()
	if cn == nil {
		return false
	}
	u, err := url.Parse(cn.endpoint)
	if err != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return i.ctr.runs()
}

// dropCast records a cast to an unmapped alias.
func (i *Instance) dropCast(alias string) {
	n := i.dropped.Add(1)
	i.rt.droppedCasts.Add(1)
	i.log.Info("cast to unmapped alias dropped", slog.String("alias", alias), slog.Int64("dropped", n))
}

// Stop stops the instance: the Stop RPC (bounded by Config.StopTimeout),
// then SIGTERM and, after Config.StopGrace (at most answeredStopGrace if
// the function answered Stop), SIGKILL, then the container is removed.
// Calls in flight fail. Stop is idempotent; every caller waits for the
// same outcome, or until its ctx is done. Stopping an instance that has
// already ended returns nil.
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
	if st == contract.StateRunning {
		i.state = contract.StateStopping
	}
	i.mu.Unlock()
	i.stopCalls(contract.ErrInstanceStopped)
	if ending {
		<-i.done
		return nil
	}
	rpc0, answered := time.Now(), false
	if st == contract.StateRunning {
		if cn := i.conn.Load(); cn != nil {
			// Let the function finish (and Sync) while its host requests
			// are still served; give up early if the container ends.
			sctx, cancel := context.WithTimeout(i.alive, i.rt.cfg.StopTimeout)
			_, err := cn.fn.Stop(sctx, emptyMsg)
			cancel()
			if err != nil && context.Cause(i.alive) == nil {
				i.log.Warn("stop rpc failed; stopping the container anyway", slog.Any("error", err))
			}
			answered = err == nil
			// An HTTP/2 server shutting down on SIGTERM waits (about 1 s)
			// for its clients to close idle connections: close ours now,
			// so that the function exits at once instead of using up the
			// stop grace.
			cn.close()
		}
		i.mu.Lock()
		i.stopRPCDur, i.stopAnswered = time.Since(rpc0), answered
		i.mu.Unlock()
	}
	err := i.teardown(contract.ErrInstanceStopped, contract.StateStopped)
	if err != nil {
		return fmt.Errorf("stop instance %s: %w", i.id.FunctionID, err)
	}
	return nil
}

// answeredStopGrace bounds the wait for a container's end after SIGTERM
// when its function answered the Stop RPC: its own clean-up is done (the
// Go SDK then only closes its server and exits at once; upstream's node
// kills such a container at once, stop with t=0), so a function that does
// not exit on SIGTERM (or exits slowly) is not given the whole StopGrace.
const answeredStopGrace = 250 * time.Millisecond

// stopGrace is how long teardown waits for the container's end after
// SIGTERM before it force-removes it: Config.StopGrace, or at most
// answeredStopGrace once the function answered Stop.
func (i *Instance) stopGrace() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopAnswered {
		return min(i.rt.cfg.StopGrace, answeredStopGrace)
	}
	return i.rt.cfg.StopGrace
}

// teardown ends the instance once: pending work is cancelled with cause,
// the container (if any) gets SIGTERM, then after the grace period
// (stopGrace) is force-removed, and the instance leaves the registry.
// Every caller waits for it to finish.
func (i *Instance) teardown(cause error, final contract.State) error {
	return i.teardownFrom(cause, final, false)
}

// teardownFrom is teardown; byWatcher is set when the container's waiter
// goroutine itself calls it (through containerEndedOnItsOwn), which must
// then not wait for the waiter to return.
func (i *Instance) teardownFrom(cause error, final contract.State, byWatcher bool) error {
	i.teardownOnce.Do(func() {
		i.mu.Lock()
		i.ending = true
		i.mu.Unlock()
		i.kill(cause)

		var errs []error
		if i.ctr != nil {
			// A failed start has nothing to shut down gracefully.
			errs = append(errs, i.ctr.remove(final != contract.StateFailed, i.stopGrace(), byWatcher))
		}
		i.rt.deregister(i)
		if cn := i.conn.Load(); cn != nil {
			cn.close()
		}
		i.mu.Lock()
		i.state = final
		if final == contract.StateExited || final == contract.StateFailed {
			if i.exit != nil && final == contract.StateExited {
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

// containerEndedOnItsOwn is called by the container's waiter when the
// container has ended without remove. If the instance was running and
// nobody is stopping it, pending and later calls fail at once with an
// ExitError, the container is removed and the owner is told through
// OnExit. During start it only records the exit, which makes Start fail
// with a BootError.
func (i *Instance) containerEndedOnItsOwn(ex contract.ExitInfo) {
	ex.ID = i.id
	i.mu.Lock()
	published := ex // Info reads i.exit under i.mu; ex stays this goroutine's
	if i.exit == nil || !i.ending {
		// (An instance ended by noticeDisowned keeps its reason.)
		i.exit = &published
	}
	running := i.state == contract.StateRunning && !i.ending
	if running {
		// This goroutine tears the instance down: a Stop or Close from now
		// on waits for it (instead of starting a teardown that would wait
		// for this goroutine).
		i.ending = true
	}
	i.mu.Unlock()
	exitErr := &ExitError{Info: ex}
	i.kill(exitErr)
	if !running {
		return
	}
	i.ctr.waitOutput(time.Second)
	ex.LastLogs = i.logs.tail(exitLogLines)
	i.mu.Lock()
	i.exit.LastLogs = ex.LastLogs
	i.mu.Unlock()
	i.log.Warn("instance ended on its own", slog.String("reason", ex.Reason),
		slog.Int("exit_code", ex.ExitCode), slog.Any("last_output", ex.LastLogs))
	i.teardownFrom(exitErr, contract.StateExited, true)
	if i.spec.OnExit != nil {
		i.spec.OnExit(ex)
	}
}
