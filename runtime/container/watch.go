package container

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// watch waits, through the engine, for the container to end. If the
// instance was running and nobody is stopping it, pending and later calls
// fail at once with an ExitError, the container is removed and the owner is
// told through OnExit. During start it only records the exit, which makes
// Start fail with a BootError.
func (i *Instance) watch(cid string) {
	defer close(i.watchDone)
	code, err := i.waitExit(cid)
	if i.bg.Err() != nil {
		return // torn down: the runtime removed the container itself
	}
	ex := ExitInfo{ID: i.id, Reason: "exited", ExitCode: code}
	if err != nil {
		ex.Reason, ex.ExitCode = "vanished", -1
	} else if st := i.inspectState(cid); st != nil {
		if st.ExitCode == 128+9 && !st.OOMKilled && i.limits.MemoryBytes > 0 {
			// The engine may record the OOM event just after the exit.
			time.Sleep(200 * time.Millisecond)
			if st2 := i.inspectState(cid); st2 != nil {
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
	i.mu.Lock()
	published := ex // Info reads i.exit under i.mu; ex stays this goroutine's
	i.exit = &published
	running := i.state == StateRunning && !i.ending
	if running {
		// This goroutine tears the instance down: a Stop or Close from now
		// on waits for it (instead of starting a teardown that would wait
		// for this goroutine).
		i.ending = true
	}
	close(i.exited)
	i.mu.Unlock()
	exitErr := &ExitError{Info: ex}
	i.kill(exitErr)
	if !running {
		return
	}
	waitBounded(i.logsDone, time.Second)
	ex.LastLogs = i.logs.tail(exitLogLines)
	i.mu.Lock()
	i.exit.LastLogs = ex.LastLogs
	i.mu.Unlock()
	i.log.Warn("instance ended on its own", slog.String("reason", ex.Reason),
		slog.Int("exit_code", ex.ExitCode), slog.Any("last_output", ex.LastLogs))
	i.teardownFrom(exitErr, StateExited, true)
	if i.spec.OnExit != nil {
		i.spec.OnExit(ex)
	}
}

// waitExit blocks until the container is not running and returns its exit
// code. If the engine's wait stream breaks, it polls inspect instead.
func (i *Instance) waitExit(cid string) (int, error) {
	res := i.rt.docker.ContainerWait(i.bg, cid, client.ContainerWaitOptions{Condition: dcontainer.WaitConditionNotRunning})
	select {
	case r := <-res.Result:
		return int(r.StatusCode), nil
	case err := <-res.Error:
		if i.bg.Err() != nil {
			return 0, err
		}
		i.log.Warn("engine wait failed; polling the container", slog.Any("error", err))
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-i.bg.Done():
			return 0, i.bg.Err()
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(i.bg, dockerTimeout)
		ins, err := i.rt.docker.ContainerInspect(ctx, cid, inspectOptions)
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
func (i *Instance) inspectState(cid string) *dcontainer.State {
	ctx, cancel := context.WithTimeout(i.bg, dockerTimeout)
	defer cancel()
	ins, err := i.rt.docker.ContainerInspect(ctx, cid, inspectOptions)
	if err != nil {
		return nil
	}
	return ins.Container.State
}

// readLogs copies the container's stdout and stderr, line by line, into
// the instance's ring and the node's log, until the container ends.
func (i *Instance) readLogs(cid string) {
	defer close(i.logsDone)
	rc, err := i.rt.docker.ContainerLogs(i.bg, cid, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: true,
	})
	if err != nil {
		if i.bg.Err() == nil {
			i.log.Warn("read container output", slog.Any("error", err))
		}
		return
	}
	defer rc.Close()
	out := &lineWriter{stream: "stdout", ring: i.logs, log: i.log}
	errw := &lineWriter{stream: "stderr", ring: i.logs, log: i.log}
	if _, err := stdcopy.StdCopy(out, errw, rc); err != nil && i.bg.Err() == nil {
		i.log.Debug("container output stream ended", slog.Any("error", err))
	}
	out.flush()
	errw.flush()
}
