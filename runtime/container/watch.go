package container

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/moby/moby/api/pkg/stdcopy"
	dcontainer "github.com/moby/moby/api/types/container"
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
	ex := contract.ExitInfo{Reason: "exited", ExitCode: code}
	if err != nil {
		ex.Reason, ex.ExitCode = "vanished", -1
	} else if st := h.inspectState(id); st != nil {
		// The engine may record the OOM event after the exit, later still
		// on a busy host: look again for up to 800 ms (callError waits
		// longer for the end).
		for tries := 0; st.ExitCode == 128+9 && !st.OOMKilled && h.oomPossible && tries < 4; tries++ {
			time.Sleep(200 * time.Millisecond)
			if st2 := h.inspectState(id); st2 != nil {
				st = st2
			}
		}
		ex.ExitCode = st.ExitCode
		switch {
		case st.OOMKilled:
			ex.Reason = "oom-killed"
		case st.ExitCode == 128+9:
			ex.Reason = "killed"
		}
	}
	h.mu.Lock()
	published := ex // exitInfo reads h.exit under h.mu; ex stays this goroutine's
	h.exit = &published
	close(h.exited)
	h.mu.Unlock()
	onExit(ex)
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
