package process_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/process"
)

// TestMain makes this test binary, with EDGELESS_FOLLOW_PARENT=<file>, a
// program that follows its parent and writes the file once its context was
// cancelled by the parent's exit.
func TestMain(m *testing.M) {
	process.InstallGRPCLogger() // before any gRPC use (TestGRPCLogger)
	if path := os.Getenv("EDGELESS_FOLLOW_PARENT"); path != "" {
		ctx, cancel := process.FollowParent(context.Background(), slog.New(slog.DiscardHandler), 20*time.Millisecond)
		defer cancel()
		select {
		case <-ctx.Done():
			os.WriteFile(path, []byte("followed"), 0o600)
		case <-time.After(time.Minute):
		}
		return
	}
	os.Exit(m.Run())
}

// TestFollowParent starts a program from a shell that exits soon after,
// as `go run prog &` ended by `kill`: the program sees its parent go.
func TestFollowParent(t *testing.T) {
	t.Parallel()
	mark := filepath.Join(t.TempDir(), "followed")
	sh := exec.Command("sh", "-c", `"$0" -test.run='^$' & sleep 0.3`, os.Args[0])
	sh.Env = append(os.Environ(), "EDGELESS_FOLLOW_PARENT="+mark)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v: %s", err, out)
	}
	// A bound for a broken watcher, not a speed assertion.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(mark); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not notice that its parent exited")
		}
	}
}
