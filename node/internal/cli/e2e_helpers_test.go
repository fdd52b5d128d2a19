package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// httpClient returns an HTTP client of t's own. Tests of this package run
// in parallel, and an httptest.Server's Close closes http.DefaultTransport's
// idle connections, which fails a request of another test that is about to
// reuse one ("CloseIdleConnections called"); so no test uses
// http.DefaultClient.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// startBox starts an in-a-box domain on free ports with a fresh node id,
// for one test. Its shutdown, and then the removal of any container left
// with its node id, are registered as cleanups.
func startBox(t *testing.T) *inabox.Box {
	t.Helper()
	box, _ := startBoxConfig(t)
	return box
}

// startBoxConfig is startBox, also returning the box's configuration.
func startBoxConfig(t testing.TB) (*inabox.Box, *inabox.Config) {
	t.Helper()
	return startBoxWith(t, func(*inabox.Config) {})
}

// startBoxWith is startBoxConfig with the config changed by set first.
func startBoxWith(t testing.TB, set func(*inabox.Config)) (*inabox.Box, *inabox.Config) {
	t.Helper()
	containertest.RequireDocker(t)
	cfg, stateDir, err := demoConfig()
	if err != nil {
		t.Fatal(err)
	}
	set(cfg)
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	containertest.CleanupNode(t, cfg.Node.General.NodeID)
	ctx, cancel := context.WithCancel(context.Background())
	box, err := inabox.Start(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		cancel()
		t.Fatalf("inabox.Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := box.Wait(); err != nil {
			t.Errorf("in-a-box shut down with: %v", err)
		}
	})
	rctx, rcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer rcancel()
	if err := box.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	return box, cfg
}

var examples struct {
	once sync.Once
	dir  string
	err  error
}

// exampleImages builds the example images once per test process and
// returns the examples directory.
func exampleImages(t testing.TB) string {
	t.Helper()
	dc := containertest.RequireDocker(t)
	examples.once.Do(func() {
		examples.dir, examples.err = findExamples("")
		if examples.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		examples.err = buildExampleImages(ctx, dc, examples.dir, io.Discard)
	})
	if examples.err != nil {
		t.Fatalf("build example images: %v", examples.err)
	}
	return examples.dir
}

// runCLI runs the edgeless command in process against controllerURL and
// returns its standard output; standard error goes to the test log.
func runCLI(t *testing.T, controllerURL string, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(t.Output())
	root.SetIn(strings.NewReader(""))
	root.SetArgs(append([]string{"--controller-url", controllerURL, "--timeout", "2m"}, args...))
	err := root.ExecuteContext(t.Context())
	t.Logf("edgeless %s:\n%s(err: %v)", strings.Join(args, " "), out.String(), err)
	return out.String(), err
}

// mustCLI is runCLI that fails the test on error.
func mustCLI(t *testing.T, controllerURL string, args ...string) string {
	t.Helper()
	out, err := runCLI(t, controllerURL, args...)
	if err != nil {
		t.Fatalf("edgeless %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// startFile starts a workflow file through the CLI and returns its id.
func startFile(t *testing.T, controllerURL, path string) string {
	t.Helper()
	return strings.TrimSpace(mustCLI(t, controllerURL, "workflow", "start", "--quiet", path))
}

// inspect returns `workflow inspect -o json`.
func inspect(t *testing.T, controllerURL, id string) *WorkflowView {
	t.Helper()
	var v WorkflowView
	if err := json.Unmarshal([]byte(mustCLI(t, controllerURL, "workflow", "inspect", "-o", "json", id)), &v); err != nil {
		t.Fatalf("inspect output: %v", err)
	}
	return &v
}

// eventually polls cond until it holds; it fails the test after a minute
// (a bound for a broken system, not a speed assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, still not: %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeFile writes a workflow file into a test directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nodeContainerCount returns how many containers the box's node has.
// nodeContainerCount returns how many instance containers the box's node
// has: its containers but those its prewarm pool holds (asked after the
// list: a container only ever leaves the pool), whatever their name (a
// pooled container a Start took is renamed in the background).
func nodeContainerCount(t *testing.T, box *inabox.Box) int {
	t.Helper()
	dc := containertest.RequireDocker(t)
	pool := box.PoolContainers() // before and after: see containertest.InstanceContainersOf
	ids, err := containertest.NodeContainers(t.Context(), dc, box.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	pool = append(pool, box.PoolContainers()...)
	return len(slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(pool, id) }))
}

// settledContainerCount returns nodeContainerCount once it is want, or
// its last value after 20 s: the pool's own containers are told apart by
// its books, and a container it evicts leaves its books a moment before the
// engine removes it (a Start may evict one to make room for its image), so
// a count can be one high for that moment. A leaked container stays.
func settledContainerCount(t *testing.T, box *inabox.Box, want int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := nodeContainerCount(t, box)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeContainerCountOf returns how many containers node nodeID has.
func nodeContainerCountOf(t *testing.T, nodeID string) int {
	t.Helper()
	dc := containertest.RequireDocker(t)
	ids, err := containertest.InstanceContainers(t.Context(), dc, nodeID) // not the idle prewarmed ones
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
