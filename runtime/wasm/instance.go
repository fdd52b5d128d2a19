package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Instance is one RUST_WASM function instance: one module instance with its
// own memory. It implements contract.Instance.
type Instance struct {
	rt    *Runtime
	spec  contract.StartSpec
	id    contract.InstanceID
	nodeU uuid.UUID
	fnU   uuid.UUID
	log   *slog.Logger
	logs  *logRing

	mod api.Module // set by start before the instance is running

	// stopCtx is cancelled when Stop begins: calls the guest is waiting
	// for return Err. alive is cancelled when the instance has ended.
	stopCtx   context.Context
	stopBegin context.CancelFunc
	alive     context.Context
	end       context.CancelFunc
	owned     sync.WaitGroup // delayed casts and the OnExit call

	// mu guards the fields below. running and depth implement the guest
	// lock: at most one goroutine executes guest code, and an event that
	// entered the guest while another was suspended in a call must leave
	// before that one resumes (the guest's shadow stack is LIFO).
	mu             sync.Mutex
	state          contract.State
	running        bool
	depth          int
	resumeWant     int // events waiting to resume
	changed        chan struct{}
	free           []*exports
	exit           *contract.ExitInfo
	delayedPending int
	started        time.Time
	imageDur       time.Duration
	createDur      time.Duration
	initDur        time.Duration

	droppedCasts atomic.Int64
	stopOnce     sync.Once
	stopErr      error
}

var _ contract.Instance = (*Instance)(nil)

// exports are one set of the guest's exported functions. A set is used by
// one event at a time; allocIn is apart from alloc because a host function
// calls it while the event's outer guest call is still on the stack.
type exports struct {
	alloc, allocIn, free, clear, init, cast, call, stop api.Function
}

// event is the guest call being made, found by host functions in their
// context.
type event struct {
	i     *Instance
	ctx   context.Context
	depth int
	ex    *exports
}

type eventKey struct{}

func newInstance(r *Runtime, spec contract.StartSpec, nodeU, fnU uuid.UUID) *Instance {
	i := &Instance{
		rt:      r,
		spec:    spec,
		id:      contract.InstanceID{NodeID: nodeU.String(), FunctionID: fnU.String()},
		nodeU:   nodeU,
		fnU:     fnU,
		log:     r.log.With(slog.String("instance", fnU.String()), slog.String("class", spec.ClassID)),
		logs:    newLogRing(r.cfg.LogLines),
		state:   contract.StateStarting,
		changed: make(chan struct{}),
		started: time.Now(),
	}
	i.stopCtx, i.stopBegin = context.WithCancel(context.Background())
	i.alive, i.end = context.WithCancel(context.Background())
	return i
}

// ID returns the instance's identifier.
func (i *Instance) ID() contract.InstanceID { return i.id }

// Logs returns the instance's last log lines: its telemetry log entries and
// what it wrote to stdout and stderr through WASI.
func (i *Instance) Logs() []contract.LogLine { return i.logs.snapshot() }

// Info describes the instance. ImageDuration is the time to compile the
// module (or find it in the cache), CreateDuration the instantiation.
func (i *Instance) Info() contract.Info {
	i.mu.Lock()
	defer i.mu.Unlock()
	info := contract.Info{
		ID:             i.id,
		ClassID:        i.spec.ClassID,
		Code:           i.spec.Code,
		State:          i.state,
		StartedAt:      i.started,
		ImageDuration:  i.imageDur,
		CreateDuration: i.createDur,
		InitDuration:   i.initDur,
		DroppedCasts:   i.droppedCasts.Load(),
	}
	if i.exit != nil {
		e := *i.exit
		info.Exit = &e
	}
	return info
}

// start compiles (or finds) the module, instantiates it and initializes the
// function. The caller holds no lock; the instance is not yet visible to
// events (state starting).
func (i *Instance) start(ctx context.Context) error {
	t0 := time.Now()
	compiled, err := i.rt.cache.get(ctx, i.spec.Binary)
	if err != nil {
		return fmt.Errorf("start wasm instance %s (class %s): %w", i.id.FunctionID, i.spec.ClassID, err)
	}
	t1 := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.rt.cfg.InitTimeout)
	defer cancel()
	// Runtime.Close and Stop cut a start short (the guest is stopped).
	defer context.AfterFunc(i.rt.closeCtx, cancel)()
	defer context.AfterFunc(i.stopCtx, cancel)()
	if _, err := i.enter(ctx, true); err != nil {
		return err
	}
	ev := &event{i: i, depth: 1}
	ev.ctx = context.WithValue(ctx, eventKey{}, ev)
	mod, err := i.rt.wz.InstantiateModule(ev.ctx, compiled, i.moduleConfig())
	if err != nil {
		i.leave()
		return fmt.Errorf("start wasm instance %s (class %s): instantiate: %s", i.id.FunctionID, i.spec.ClassID, i.reason(ctx, err))
	}
	i.mod = mod
	ev.ex = i.getExports()
	t2 := time.Now()
	err = i.initSeq(ev)
	i.putExports(ev.ex)
	i.leave()
	t3 := time.Now()
	if err != nil {
		return fmt.Errorf("start wasm instance %s (class %s): init: %w", i.id.FunctionID, i.spec.ClassID, err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.state != contract.StateStarting {
		return fmt.Errorf("start wasm instance %s: %w", i.id.FunctionID, contract.ErrInstanceStopped)
	}
	i.state = contract.StateRunning
	i.imageDur, i.createDur, i.initDur = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)
	i.notify()
	return nil
}

// abandon releases what a failed start holds.
func (i *Instance) abandon() {
	i.mu.Lock()
	i.state = contract.StateFailed
	i.notify()
	i.mu.Unlock()
	i.stopBegin()
	i.end()
	if i.mod != nil {
		_ = i.mod.Close(context.Background())
	}
	i.owned.Wait()
}

// initSeq runs upstream's init sequence: copy payload and state in, call
// handle_init_asm, free them. len 0 means absent (pointer 0).
func (i *Instance) initSeq(ev *event) error {
	payload := []byte(i.spec.InitPayload)
	pp, err := ev.copyIn(payload)
	if err != nil {
		return err
	}
	sp, err := ev.copyIn(i.spec.State)
	if err != nil {
		return err
	}
	if _, err := ev.guest(ev.ex.init, pp, uint64(len(payload)), sp, uint64(len(i.spec.State))); err != nil {
		return err
	}
	if err := ev.free(pp, len(payload)); err != nil {
		return err
	}
	return ev.free(sp, len(i.spec.State))
}

// copyIn allocates len(b) bytes in the guest and writes b there; nothing
// (pointer 0) for empty b.
func (ev *event) copyIn(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	res, err := ev.guest(ev.ex.alloc, uint64(len(b)))
	if err != nil {
		return 0, err
	}
	p := uint32(res[0])
	if !ev.i.mod.Memory().Write(p, b) {
		err := fmt.Errorf("edgeless_mem_alloc(%d) returned %d, outside memory", len(b), p)
		return 0, ev.i.fail(ev.ctx, err)
	}
	return uint64(p), nil
}

func (ev *event) free(p uint64, n int) error {
	if n == 0 {
		return nil
	}
	_, err := ev.guest(ev.ex.free, p, uint64(n))
	return err
}

// guest calls f in the guest; an error ends the instance.
func (ev *event) guest(f api.Function, params ...uint64) ([]uint64, error) {
	res, err := f.Call(ev.ctx, params...)
	if err != nil {
		return nil, ev.i.fail(ev.ctx, err)
	}
	return res, nil
}

// Cast delivers a cast from src: edgeless_mem_clear, then handle_cast_asm
// with copies of the source's ids and the payload. It returns once the
// guest has returned.
func (i *Instance) Cast(ctx context.Context, src contract.InstanceID, msg []byte) error {
	ev, done, err := i.event(ctx, "cast")
	if err != nil {
		return err
	}
	defer done()
	np, cp, pp, err := ev.prepare(src, msg)
	if err != nil {
		return err
	}
	if _, err := ev.guest(ev.ex.cast, np, cp, pp, uint64(len(msg))); err != nil {
		return err
	}
	return ev.release(np, cp, pp, len(msg))
}

// Call delivers a call from src and returns the guest's answer; reply bytes
// are copied out before anything else runs in the guest.
func (i *Instance) Call(ctx context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error) {
	ev, done, err := i.event(ctx, "call")
	if err != nil {
		return contract.Reply{}, err
	}
	defer done()
	np, cp, pp, err := ev.prepare(src, msg)
	if err != nil {
		return contract.Reply{}, err
	}
	slots, err := ev.guest(ev.ex.alloc, 8)
	if err != nil {
		return contract.Reply{}, err
	}
	opp, olp := slots[0], slots[0]+4
	res, err := ev.guest(ev.ex.call, np, cp, pp, uint64(len(msg)), opp, olp)
	if err != nil {
		return contract.Reply{}, err
	}
	var reply contract.Reply
	switch int32(uint32(res[0])) {
	case callNoReply:
		reply.Type = edgelessapi.CallRetType_CALL_RET_NO_REPLY
	case callReply:
		mem := i.mod.Memory()
		p, ok1 := mem.ReadUint32Le(uint32(opp))
		n, ok2 := mem.ReadUint32Le(uint32(olp))
		b, ok3 := mem.Read(p, n)
		if !ok1 || !ok2 || !ok3 {
			return contract.Reply{}, i.fail(ev.ctx, fmt.Errorf("reply at [%d, %d+%d) is outside memory", p, p, n))
		}
		reply = contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: append([]byte{}, b...)}
	default:
		reply.Type = edgelessapi.CallRetType_CALL_RET_ERR
	}
	if err := ev.free(opp, 8); err != nil {
		return contract.Reply{}, err
	}
	return reply, ev.release(np, cp, pp, len(msg))
}

// prepare runs the first steps of upstream's cast and call sequences.
//
// edgeless_mem_clear runs only when no other event is inside the guest: a
// no_std guest's arena would otherwise be reset under the buffers of the
// event that waits in a call.
func (ev *event) prepare(src contract.InstanceID, msg []byte) (np, cp, pp uint64, err error) {
	if ev.depth == 1 {
		if _, err = ev.guest(ev.ex.clear); err != nil {
			return
		}
	}
	nodeU, _ := uuid.Parse(src.NodeID)
	fnU, _ := uuid.Parse(src.FunctionID)
	if cp, err = ev.copyIn(fnU[:]); err != nil {
		return
	}
	if np, err = ev.copyIn(nodeU[:]); err != nil {
		return
	}
	if pp, err = ev.copyIn(msg); err != nil {
		return
	}
	return
}

func (ev *event) release(np, cp, pp uint64, n int) error {
	for _, b := range []struct {
		p uint64
		n int
	}{{cp, 16}, {np, 16}, {pp, n}} {
		if err := ev.free(b.p, b.n); err != nil {
			return err
		}
	}
	return nil
}

// event admits an event into the guest, bounded by ctx, and gives it a
// deadline of Config.CallTimeout that the caller's cancellation does not
// shorten (a guest cut off mid-event would be left inconsistent).
func (i *Instance) event(ctx context.Context, op string) (*event, func(), error) {
	depth, err := i.enter(ctx, false)
	if err != nil {
		return nil, nil, fmt.Errorf("%s to wasm instance %s: %w", op, i.id.FunctionID, err)
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.rt.cfg.CallTimeout)
	ev := &event{i: i, depth: depth, ex: i.getExports()}
	ev.ctx = context.WithValue(ectx, eventKey{}, ev)
	return ev, func() {
		i.putExports(ev.ex)
		cancel()
		i.leave()
	}, nil
}

// notify wakes every waiter; i.mu is held.
func (i *Instance) notify() {
	close(i.changed)
	i.changed = make(chan struct{})
}

// wait releases i.mu until the next change or ctx's end, then holds it again.
func (i *Instance) wait(ctx context.Context) error {
	ch := i.changed
	i.mu.Unlock()
	defer i.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stateErr says why no event can enter now, or nil.
func (i *Instance) stateErr(starting bool) error {
	switch i.state {
	case contract.StateRunning:
		return nil
	case contract.StateStarting:
		if starting {
			return nil
		}
		return contract.ErrInstanceNotRunning
	case contract.StateStopping, contract.StateStopped:
		return contract.ErrInstanceStopped
	default:
		if i.exit != nil {
			return fmt.Errorf("%s: %w", i.exit.Reason, ErrInstanceEnded)
		}
		return contract.ErrInstanceNotRunning
	}
}

// enter waits until no goroutine runs guest code and no suspended event
// waits to resume, and takes the guest.
func (i *Instance) enter(ctx context.Context, starting bool) (int, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for {
		if err := i.stateErr(starting); err != nil {
			return 0, err
		}
		if !i.running && i.resumeWant == 0 {
			i.running = true
			i.depth++
			return i.depth, nil
		}
		if err := i.wait(ctx); err != nil {
			return 0, fmt.Errorf("wait for the instance (busy): %w", err)
		}
	}
}

// leave gives the guest up at the end of an event.
func (i *Instance) leave() {
	i.mu.Lock()
	i.running = false
	i.depth--
	i.notify()
	i.mu.Unlock()
}

// suspend gives the guest up while the event waits in a call.
func (i *Instance) suspend() {
	i.mu.Lock()
	i.running = false
	i.notify()
	i.mu.Unlock()
}

// resume takes the guest back for the event at depth once every event that
// entered after it has left.
func (i *Instance) resume(ctx context.Context, depth int) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.resumeWant++
	defer func() { i.resumeWant--; i.notify() }()
	for i.running || i.depth != depth {
		if i.state == contract.StateExited || i.state == contract.StateFailed {
			return trapf("instance ended while the guest waited in a call")
		}
		if err := i.wait(ctx); err != nil {
			return trapf("resume after call: %v (an event that entered meanwhile is still in the guest)", err)
		}
	}
	i.running = true
	return nil
}

func (i *Instance) getExports() *exports {
	i.mu.Lock()
	if n := len(i.free); n > 0 {
		ex := i.free[n-1]
		i.free = i.free[:n-1]
		i.mu.Unlock()
		return ex
	}
	i.mu.Unlock()
	m := i.mod
	return &exports{
		alloc:   m.ExportedFunction("edgeless_mem_alloc"),
		allocIn: m.ExportedFunction("edgeless_mem_alloc"),
		free:    m.ExportedFunction("edgeless_mem_free"),
		clear:   m.ExportedFunction("edgeless_mem_clear"),
		init:    m.ExportedFunction("handle_init_asm"),
		cast:    m.ExportedFunction("handle_cast_asm"),
		call:    m.ExportedFunction("handle_call_asm"),
		stop:    m.ExportedFunction("handle_stop_asm"),
	}
}

func (i *Instance) putExports(ex *exports) {
	i.mu.Lock()
	if len(i.free) < 4 {
		i.free = append(i.free, ex)
	}
	i.mu.Unlock()
}

// reason turns a guest call's error into the reason an instance ended.
func (i *Instance) reason(ctx context.Context, err error) string {
	var ee *sys.ExitError
	if errors.As(err, &ee) {
		switch ee.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Sprintf("deadline exceeded (guest still running after %s)", i.rt.cfg.CallTimeout)
		case sys.ExitCodeContextCanceled:
			return "cancelled"
		}
		if i.stopCtx.Err() != nil || i.alive.Err() != nil {
			return "instance ended"
		}
		return fmt.Sprintf("exited with code %d", ee.ExitCode())
	}
	if ctx.Err() != nil {
		return "deadline exceeded"
	}
	msg := err.Error()
	if k := strings.IndexByte(msg, '\n'); k >= 0 {
		msg = msg[:k] // wazero appends the guest stack
	}
	msg = strings.TrimSuffix(msg, " (recovered by wazero)")
	return "trap: " + strings.TrimPrefix(msg, "wasm error: ")
}

// fail ends the instance after a guest call failed (trap, deadline, exit)
// and returns the error for the caller. A running instance is reported
// through OnExit; one starting only fails its Start.
func (i *Instance) fail(ctx context.Context, err error) error {
	reason := i.reason(ctx, err)
	i.mu.Lock()
	prev := i.state
	if prev == contract.StateRunning || prev == contract.StateStopping {
		i.state = contract.StateExited
		i.exit = &contract.ExitInfo{ID: i.id, Reason: reason, ExitCode: -1, LastLogs: i.logs.lastTexts(10)}
	}
	exit := i.exit
	i.notify()
	i.mu.Unlock()
	if prev == contract.StateRunning || prev == contract.StateStopping {
		i.log.Warn("wasm instance ended", slog.String("reason", reason))
		i.stopBegin()
		i.end()
		_ = i.mod.Close(context.Background())
		i.rt.instances.CompareAndDelete(i.id, i)
		if prev == contract.StateRunning && i.spec.OnExit != nil {
			i.owned.Add(1)
			go func() {
				defer i.owned.Done()
				i.spec.OnExit(*exit)
			}()
		}
	}
	return fmt.Errorf("wasm instance %s: %s: %w", i.id.FunctionID, reason, ErrInstanceEnded)
}

// Stop stops the instance: calls the guest waits for return Err, events
// inside the guest finish (within StopTimeout), then edgeless_mem_clear and
// handle_stop_asm run and the module instance is closed. Later calls return
// the first call's result.
func (i *Instance) Stop(ctx context.Context) error {
	i.stopOnce.Do(func() { i.stopErr = i.stop(ctx) })
	return i.stopErr
}

func (i *Instance) stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.rt.cfg.StopTimeout)
	defer cancel()
	i.mu.Lock()
	switch i.state {
	case contract.StateStarting:
		// Start is still running (Runtime.Close): it fails once init
		// returns, and releases the module instance itself.
		i.state = contract.StateStopped
		i.notify()
		i.mu.Unlock()
		i.stopBegin()
		return nil
	case contract.StateRunning:
	default:
		i.mu.Unlock()
		i.owned.Wait()
		return nil
	}
	i.state = contract.StateStopping
	i.notify()
	i.stopBegin()
	var stopErr error
	for i.running || i.depth > 0 {
		if err := i.wait(ctx); err != nil {
			stopErr = fmt.Errorf("stop wasm instance %s: events still in the guest: %w", i.id.FunctionID, err)
			break
		}
	}
	ok := stopErr == nil && i.state == contract.StateStopping
	if ok {
		i.running = true
		i.depth++
	}
	i.mu.Unlock()
	if ok {
		ev := &event{i: i, depth: 1, ex: i.getExports()}
		ev.ctx = context.WithValue(ctx, eventKey{}, ev)
		if _, err := ev.guest(ev.ex.clear); err == nil {
			if _, err := ev.guest(ev.ex.stop); err != nil {
				stopErr = err
			}
		} else {
			stopErr = err
		}
		i.leave()
	}
	i.mu.Lock()
	if i.state == contract.StateStopping {
		i.state = contract.StateStopped
	}
	i.notify()
	i.mu.Unlock()
	i.end()
	_ = i.mod.Close(context.Background())
	i.rt.instances.CompareAndDelete(i.id, i)
	i.owned.Wait()
	return stopErr
}

func (i *Instance) dropCast(alias string) {
	n := i.droppedCasts.Add(1)
	i.log.Warn("cast to unknown alias dropped", slog.String("alias", alias), slog.Int64("dropped", n))
}
