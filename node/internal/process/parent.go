package process

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// ParentIsGoRun reports whether this process's parent is the go command,
// as when it was started with `go run`. Only Linux tells (through /proc);
// elsewhere it reports false.
func ParentIsGoRun() bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", os.Getppid()))
	return err == nil && strings.TrimSpace(string(comm)) == "go"
}

// FollowParent returns a context that is cancelled when this process's
// parent exits (the process is then re-parented, so its parent id
// changes), checked every interval. `go run prog &` stopped with `kill`
// ends only the go command; a program that follows its parent then shuts
// down gracefully instead of living on with its containers. The returned
// cancel stops the watching.
func FollowParent(parent context.Context, log *slog.Logger, interval time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	ppid := os.Getppid()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != ppid {
					log.Info("parent process exited; shutting down", "parent_pid", ppid)
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}
