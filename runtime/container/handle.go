package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// errHandleRemoved: the handle's removal began before the container was
// created or started; the container, if any, has been removed.
var errHandleRemoved = errors.New("container handle removed")

// containerHandle is one instance's container, as Nomad's driver keeps a task
// handle apart from the task: create, start, wait for its end, read its
// output, remove. It knows nothing of Boot, Init, events or Stop; the
// session (Instance) drives it. Its methods are safe for concurrent use.
type containerHandle struct {
	docker containerAPI
	name   string
	image  string
	log    *slog.Logger
	out    *outputRing
	// oomPossible is set when the container has a memory limit: an exit
	// by SIGKILL may then be an OOM kill reported just after it.
	oomPossible bool
	// oomBound bounds the wait for a late oom event (oomEventBound).
	oomBound time.Duration

	mu       sync.Mutex
	id       string             // set once created
	removing bool               // remove has begun: no container may be added
	watching bool               // the waiter and the output reader run
	exit     *contract.ExitInfo // set, before exited closes, once the container ended
	// terminating is set when a graceful remove is about to signal the
	// container: its end is then the runtime's doing.
	terminating bool
	// stopDur and removeDur are how long remove waited for the container
	// to end after its signal, and how long the engine took to remove it.
	stopDur, removeDur time.Duration
	// socks are the container's guest sockets (nil: none); set before
	// create (setSockets), closed and removed by remove.
	socks *guestSockets

	// exited is closed once the container has ended.
	exited chan struct{}
	// outputDone is closed once the container's output has been read.
	outputDone chan struct{}
	// waitDone is closed when the waiter goroutine returns.
	waitDone chan struct{}
	// bg is cancelled by remove; it bounds the waiter and the reader.
	bg       context.Context
	bgCancel context.CancelFunc
}

func newContainerHandle(docker containerAPI, name, image string, out *outputRing, oomPossible bool, log *slog.Logger) *containerHandle {
	h := &containerHandle{
		docker:      docker,
		name:        name,
		image:       image,
		log:         log,
		out:         out,
		oomPossible: oomPossible,
		oomBound:    oomEventBound,
		exited:      make(chan struct{}),
		outputDone:  make(chan struct{}),
		waitDone:    make(chan struct{}),
	}
	h.bg, h.bgCancel = context.WithCancel(context.Background())
	return h
}

// containerID returns the container's id; empty until it is created.
func (h *containerHandle) containerID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.id
}

// ended returns a channel closed once the container has ended.
func (h *containerHandle) ended() <-chan struct{} { return h.exited }

// exitInfo returns how the container ended; ok is false while it runs.
func (h *containerHandle) exitInfo() (contract.ExitInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.exit == nil {
		return contract.ExitInfo{}, false
	}
	return *h.exit, true
}

// runs reports whether the engine says the container runs (false if it
// cannot tell).
func (h *containerHandle) runs() bool {
	id := h.containerID()
	if id == "" {
		return false
	}
	st := h.inspectState(id)
	return st != nil && st.Running
}

// waitOutput waits up to d for the container's output to be read to its
// end; it reports whether it was.
func (h *containerHandle) waitOutput(d time.Duration) bool { return waitBounded(h.outputDone, d) }

// create creates the container. Create is not cancelled with ctx: the
// engine may create the container even when the request is abandoned, and
// then its id is the only way to remove it. If remove has begun meanwhile,
// create removes the container itself and returns errHandleRemoved.
func (h *containerHandle) create(ctx context.Context, p createParams) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dockerTimeout)
	defer cancel()
	id, err := createContainer(cctx, h.docker, p)
	if err != nil {
		return err
	}
	h.mu.Lock()
	removing := h.removing
	if !removing {
		h.id = id
	}
	h.mu.Unlock()
	if removing {
		rctx, rcancel := context.WithTimeout(context.Background(), dockerTimeout)
		defer rcancel()
		if err := removeContainer(rctx, h.docker, id); err != nil {
			return err
		}
		return errHandleRemoved
	}
	return nil
}

// start starts the created container, begins waiting for its end
// (onExit is called once, from the waiter, when it ends unless remove came
// first) and reading its output, and returns its address on the network
// netName and where the function port is reached.
func (h *containerHandle) start(ctx context.Context, netName string, port uint16, publish bool, onExit func(contract.ExitInfo)) (netip.Addr, netip.AddrPort, error) {
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	id := h.containerID()
	if _, err := h.docker.ContainerStart(dctx, id, startOptions); err != nil {
		return netip.Addr{}, netip.AddrPort{}, fmt.Errorf("start container %s: %w", h.name, err)
	}
	ins, err := h.docker.ContainerInspect(dctx, id, inspectOptions)
	h.mu.Lock()
	if h.removing {
		h.mu.Unlock()
		return netip.Addr{}, netip.AddrPort{}, errHandleRemoved
	}
	h.watching = true
	h.mu.Unlock()
	// Notice the container's end at once (engine wait; an exit that came
	// first is reported too), and read its output. Started after inspect
	// so as not to queue behind it in the engine.
	go h.wait(id, onExit)
	go h.readOutput(id)
	if err != nil {
		return netip.Addr{}, netip.AddrPort{}, fmt.Errorf("inspect container %s: %w", h.name, err)
	}
	ip, ap, err := containerEndpoint(ins.Container, netName, port, publish)
	if err != nil {
		// A container without an address has ended at once, or is ending:
		// one killed (OOM) right after start can still be reported
		// running by inspect with its network already detached. Let the
		// waiter record how it ended (the session turns that into a
		// BootError with the last output); a container that really runs
		// without an address costs this wait once, on a failing start.
		waitBounded(h.exited, 2*time.Second)
		return netip.Addr{}, netip.AddrPort{}, fmt.Errorf("container %s: %w", h.name, err)
	}
	return ip, ap, nil
}

// remove removes the container, once it exists: if graceful (and the
// container was started and has not ended) it sends SIGTERM and waits up to
// grace for the end; then it force-removes it, and waits for the waiter
// and the output reader to return. byWaiter is set when the waiter's
// onExit itself calls remove, which must then not wait for the waiter.
// After remove no container can be added.
func (h *containerHandle) remove(graceful bool, grace time.Duration, byWaiter bool) error {
	h.mu.Lock()
	h.removing = true
	id, watching := h.id, h.watching
	h.terminating = watching && graceful
	h.mu.Unlock()

	var err error
	if id != "" {
		err = h.removeContainer(id, watching && graceful, grace)
		// The output reader ends with the container's output stream.
		if watching && !waitBounded(h.outputDone, 2*time.Second) {
			h.log.Warn("container output still open after removal")
		}
	}
	h.bgCancel()
	if watching {
		if !byWaiter {
			<-h.waitDone
		}
		<-h.outputDone
	}
	h.mu.Lock()
	socks := h.socks
	h.mu.Unlock()
	if socks != nil {
		socks.close()
	}
	return err
}

// setSockets gives the container its guest sockets, before create; if
// remove has begun, it closes them and returns errHandleRemoved.
func (h *containerHandle) setSockets(s *guestSockets) error {
	h.mu.Lock()
	removing := h.removing
	if !removing {
		h.socks = s
	}
	h.mu.Unlock()
	if removing {
		s.close()
		return errHandleRemoved
	}
	return nil
}

// sockets returns the container's guest sockets (nil: none).
func (h *containerHandle) sockets() *guestSockets {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.socks
}

// removeContainer, if graceful, sends SIGTERM (unless the container has
// ended) and waits up to grace for it to end; then it force-removes the
// container.
func (h *containerHandle) removeContainer(id string, graceful bool, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace+2*dockerTimeout)
	defer cancel()
	t0 := time.Now()
	select {
	case <-h.exited:
	default:
		if !graceful {
			break
		}
		kctx, kcancel := context.WithTimeout(ctx, dockerTimeout)
		_, err := h.docker.ContainerKill(kctx, id, killTerm)
		kcancel()
		if err == nil {
			waitBounded(h.exited, grace)
		}
	}
	t1 := time.Now()
	rctx, rcancel := context.WithTimeout(ctx, dockerTimeout)
	defer rcancel()
	err := removeContainer(rctx, h.docker, id)
	h.mu.Lock()
	h.stopDur, h.removeDur = t1.Sub(t0), time.Since(t1)
	h.mu.Unlock()
	return err
}

// stopTimes returns how long the last remove waited for the container to
// end and how long the engine took to remove it.
func (h *containerHandle) stopTimes() (stop, remove time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopDur, h.removeDur
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
