package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/moby/moby/api/pkg/stdcopy"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// wait waits, through the engine, for the container to end, records how
// (contract.ExitInfo without LastLogs), closes exited and calls onExit, unless
// remove came first (then the runtime removed the container itself).
func (h *containerHandle) wait(id string, onExit func(contract.ExitInfo)) {
	defer close(h.waitDone)
	code, err := h.waitExit(id)
	if h.bg.Err() != nil {
		return // removed: the runtime ended the container itself
	}
	h.mu.Lock()
	terminating := h.terminating
	h.mu.Unlock()
	ex := contract.ExitInfo{Reason: "exited", ExitCode: code}
	switch {
	case err != nil:
		ex.Reason, ex.ExitCode = "vanished", -1
	case terminating:
		// A graceful remove signalled the container and waits for this
		// end to remove it: no inspect for a reason first (an engine
		// round trip on Stop's path); the end is the runtime's doing.
		if code == 128+9 {
			ex.Reason = "killed"
		}
	default:
		h.exitReason(id, &ex)
	}
	h.mu.Lock()
	published := ex // exitInfo reads h.exit under h.mu; ex stays this goroutine's
	h.exit = &published
	close(h.exited)
	h.mu.Unlock()
	onExit(ex)
}

// exitReason completes ex, the end of a container that the runtime did not
// signal, from the engine's record: its exit code, and whether it was
// OOM-killed or killed.
func (h *containerHandle) exitReason(id string, ex *contract.ExitInfo) {
	if st := h.inspectState(id); st != nil {
		ex.ExitCode = st.ExitCode
		switch {
		case st.OOMKilled:
			ex.Reason = "oom-killed"
		case st.ExitCode == 128+9 && h.oomPossible:
			ex.Reason = h.sigkillReason(id, st.StartedAt)
		case st.ExitCode == 128+9:
			ex.Reason = "killed"
		}
	}
}

// oomEventBound bounds the wait for the engine's oom event after a SIGKILL
// exit that no kill through the engine explains (e.g. a kill from outside
// the engine): the engine may record an OOM kill seconds after the exit on
// a busy host. A kill through the engine or an OOM recorded in time is
// reported without this wait.
const oomEventBound = 10 * time.Second

// sigkillReason tells why a container with a memory limit ended by SIGKILL:
// "oom-killed" or "killed". The engine may record the OOM after the exit,
// so inspect alone cannot tell; its events can: it logs "kill" (with the
// signal) before the exit of a container killed through it, and "oom" when
// the kernel killed it for memory, whichever comes first of the container's
// events since it started (replayed, then followed live).
func (h *containerHandle) sigkillReason(id, startedAt string) string {
	ctx, cancel := context.WithTimeout(h.bg, h.oomBound)
	defer cancel()
	res := h.docker.Events(ctx, client.EventsListOptions{
		Since:   startedAt,
		Filters: make(client.Filters).Add("type", "container").Add("container", id).Add("event", "oom", "kill"),
	})
	for {
		select {
		case m := <-res.Messages:
			switch {
			case m.Action == events.ActionOOM:
				return "oom-killed"
			case m.Action == events.ActionKill && isSIGKILL(m.Actor.Attributes["signal"]):
				return "killed"
			}
		case err := <-res.Err:
			if h.bg.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
				h.log.Warn("engine events failed; telling an OOM kill by inspect only", slog.Any("error", err))
			}
			// A last look: the flag may have been recorded meanwhile.
			if st := h.inspectState(id); st != nil && st.OOMKilled {
				return "oom-killed"
			}
			return "killed"
		}
	}
}

// isSIGKILL reports whether the signal attribute of a kill event (a number,
// or a name on some engines) is SIGKILL.
func isSIGKILL(sig string) bool {
	switch strings.TrimPrefix(strings.ToUpper(sig), "SIG") {
	case "9", "KILL":
		return true
	}
	return false
}

// waitExit blocks until the container is not running and returns its exit
// code. If the engine's wait stream breaks, it polls inspect instead.
func (h *containerHandle) waitExit(cid string) (int, error) {
	res := h.docker.ContainerWait(h.bg, cid, client.ContainerWaitOptions{Condition: dcontainer.WaitConditionNotRunning})
	select {
	case r := <-res.Result:
		return int(r.StatusCode), nil
	case err := <-res.Error:
		if h.bg.Err() != nil {
			return 0, err
		}
		h.log.Warn("engine wait failed; polling the container", slog.Any("error", err))
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-h.bg.Done():
			return 0, h.bg.Err()
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(h.bg, dockerTimeout)
		ins, err := h.docker.ContainerInspect(ctx, cid, inspectOptions)
		cancel()
		switch {
		case cerrdefs.IsNotFound(err):
			return 0, fmt.Errorf("container %s vanished", cid)
		case err == nil && ins.Container.State != nil && !ins.Container.State.Running:
			return ins.Container.State.ExitCode, nil
		}
	}
}

// inspectState returns the container's state, or nil.
func (h *containerHandle) inspectState(cid string) *dcontainer.State {
	ctx, cancel := context.WithTimeout(h.bg, dockerTimeout)
	defer cancel()
	ins, err := h.docker.ContainerInspect(ctx, cid, inspectOptions)
	if err != nil {
		return nil
	}
	return ins.Container.State
}

// readOutput copies the container's stdout and stderr, line by line, into
// the instance's ring and the node's log, until the container ends.
func (h *containerHandle) readOutput(cid string) {
	defer close(h.outputDone)
	rc, err := h.docker.ContainerLogs(h.bg, cid, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: true,
	})
	if err != nil {
		if h.bg.Err() == nil {
			h.log.Warn("read container output", slog.Any("error", err))
		}
		return
	}
	defer rc.Close()
	out := &lineWriter{stream: "stdout", ring: h.out, log: h.log}
	errw := &lineWriter{stream: "stderr", ring: h.out, log: h.log}
	if _, err := stdcopy.StdCopy(out, errw, rc); err != nil && h.bg.Err() == nil {
		h.log.Debug("container output stream ended", slog.Any("error", err))
	}
	out.flush()
	errw.flush()
}
