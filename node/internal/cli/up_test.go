package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// TestMain runs the edgeless command instead of the tests when
// EDGELESS_CLI_MAIN=1: `edgeless up` starts this binary again as its
// background box.
func TestMain(m *testing.M) {
	if os.Getenv("EDGELESS_CLI_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		root := NewRootCommand()
		root.SetArgs(os.Args[1:])
		err := root.ExecuteContext(ctx)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "edgeless:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestUpDown follows the README's background recipe: up returns once the
// box is ready, a workflow runs on it, a second up is refused, and down
// returns once the box has exited and its containers are gone.
func TestUpDown(t *testing.T) {
	t.Setenv("EDGELESS_CLI_MAIN", "1") // for the background box only
	dir := exampleImages(t)
	cfg, nodeState, err := demoConfig() // every port 0
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(nodeState) })
	containertest.CleanupNode(t, cfg.Node.General.NodeID)
	boxFile := filepath.Join(t.TempDir(), "box.toml")
	if err := inabox.WriteTemplate(boxFile, cfg, config.UserNodeCapabilities{}); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	out := mustCLI(t, "http://127.0.0.1:1", "up", "--state-dir", stateDir, "-c", boxFile)
	s, err := readBoxState(stateDir)
	if err != nil {
		t.Fatalf("after up: %v", err)
	}
	t.Cleanup(func() {
		if alive(s.PID) {
			syscall.Kill(s.PID, syscall.SIGKILL)
		}
	})
	if !strings.Contains(out, fmt.Sprintf("running in the background (pid %d): controller %s", s.PID, s.ControllerURL)) ||
		!strings.Contains(out, "edgeless down") || !strings.Contains(out, filepath.Join(stateDir, boxLogFile)) {
		t.Errorf("up output = %q, want the pid, controller, log file and how to stop", out)
	}
	if s.NodeID != cfg.Node.General.NodeID {
		t.Errorf("state node id = %s, want %s", s.NodeID, cfg.Node.General.NodeID)
	}
	startFile(t, s.ControllerURL, filepath.Join(dir, "workflow.json"))
	// The box runs in another process: its prewarm pool's containers are
	// told by name, and a pooled container a Start took keeps its pool
	// name until its rename, in the background, is done.
	eventually(t, "3 instance containers of the box's node", func() bool { return nodeContainerCountOf(t, s.NodeID) == 3 })
	if _, err := runCLI(t, "http://127.0.0.1:1", "up", "--state-dir", stateDir, "-c", boxFile); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second up = %v, want already running", err)
	}

	out = mustCLI(t, "http://127.0.0.1:1", "down", "--state-dir", stateDir)
	if !strings.Contains(out, "no container of node") {
		t.Errorf("down output = %q", out)
	}
	if ids, err := containertest.NodeContainers(t.Context(), containertest.RequireDocker(t), s.NodeID); err != nil || len(ids) != 0 {
		t.Errorf("after down: containers of the box's node %v, %v; want none (pooled ones included)", ids, err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, boxStateFile)); !os.IsNotExist(err) {
		t.Errorf("after down: state file: %v, want it gone", err)
	}
	if out := mustCLI(t, "http://127.0.0.1:1", "down", "--state-dir", stateDir); !strings.Contains(out, "no in-a-box started by edgeless up is running") {
		t.Errorf("second down output = %q", out)
	}
}
