// Package containertest helps tests that need the Docker engine: it finds
// the engine (skipping visibly when there is none), builds the example
// function's image without a registry, and removes the containers of a
// test's node afterwards. It is to the container runtime what httptest is
// to net/http.
package containertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/imagebuild"
	"github.com/google/uuid"
	"github.com/moby/moby/client"
)

// ExampleImage is the tag BuildExampleImage gives the example function.
const ExampleImage = "edgeless-example-function:dev"

// RequireDockerEnv, set to 1, makes tests fail instead of skipping when no
// Docker engine answers (CI sets it).
const RequireDockerEnv = "EDGELESS_REQUIRE_DOCKER"

// RequireDocker returns a client of the Docker engine (API version
// negotiated). When no engine answers it skips the test with the reason,
// or fails it if EDGELESS_REQUIRE_DOCKER=1.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		if os.Getenv(RequireDockerEnv) == "1" {
			t.Fatalf("docker engine required (%s=1) but not reachable: %v", RequireDockerEnv, err)
		}
		t.Skipf("SKIP: docker engine not reachable (%v); set %s=1 to fail instead", err, RequireDockerEnv)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// NewNodeID returns a fresh random node id, so that a test's containers
// are told apart from everyone else's.
func NewNodeID() string { return uuid.NewString() }

var example struct {
	once sync.Once
	err  error
}

// BuildExampleImage builds the example function
// (function-template/cmd/example) as a static binary and the image
// edgeless-example-function:dev from function-template/Dockerfile, through
// the Engine API with no registry. It builds once per test process and
// returns the image's tag.
func BuildExampleImage(t testing.TB) string {
	t.Helper()
	c := RequireDocker(t)
	example.once.Do(func() {
		example.err = buildExample(c)
	})
	if example.err != nil {
		t.Fatalf("build example image: %v", example.err)
	}
	return ExampleImage
}

func buildExample(c *client.Client) error {
	dir, err := templateDir()
	if err != nil {
		return err
	}
	bin, err := goBuild(dir, "./cmd/example")
	if err != nil {
		return err
	}
	dockerfile, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return imagebuild.Build(ctx, c, ExampleImage, map[string][]byte{"Dockerfile": dockerfile, "function": bin})
}

// templateDir finds function-template from this file's place in the repo.
func templateDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the source tree")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "function-template")
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		return "", fmt.Errorf("function template not found: %w", err)
	}
	return dir, nil
}

// BuildStaticBinary compiles the Go package pkg (e.g. "./testdata/fn") of
// the module in dir with CGO_ENABLED=0 and returns the binary.
func BuildStaticBinary(t testing.TB, dir, pkg string) []byte {
	t.Helper()
	b, err := goBuild(dir, pkg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goBuild(dir, pkg string) ([]byte, error) {
	out, err := os.MkdirTemp("", "containertest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(out, "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, msg)
	}
	return os.ReadFile(bin)
}

// BuildImage builds an image tagged tag from a build context holding files
// (name to content; one of them the Dockerfile), through the Engine API.
// Files named "function" or without a dot are made executable.
func BuildImage(t testing.TB, tag string, files map[string][]byte) string {
	t.Helper()
	c := RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := imagebuild.Build(ctx, c, tag, files); err != nil {
		t.Fatalf("build image %s: %v", tag, err)
	}
	return tag
}

// CleanupNode registers a cleanup that removes, by force, every container
// labelled with nodeID, and reports how many it found.
func CleanupNode(t testing.TB, nodeID string) {
	t.Helper()
	c := RequireDocker(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, err := RemoveNodeContainers(ctx, c, nodeID)
		if err != nil {
			t.Errorf("cleanup containers of node %s: %v", nodeID, err)
		}
		if n > 0 {
			t.Logf("cleanup removed %d container(s) of node %s", n, nodeID)
		}
	})
}

// NodeContainers returns the ids of the containers labelled with nodeID,
// in any state.
func NodeContainers(ctx context.Context, c *client.Client, nodeID string) ([]string, error) {
	res, err := c.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", container.LabelNodeID+"="+nodeID),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of node %s: %w", nodeID, err)
	}
	ids := make([]string, 0, len(res.Items))
	for _, it := range res.Items {
		if it.Labels[container.LabelNodeID] == nodeID {
			ids = append(ids, it.ID)
		}
	}
	return ids, nil
}

// InstanceContainers returns the ids of the containers labelled with
// nodeID but for those named container.PoolNamePrefix..., in any state:
// for a node in another process, whose pool it cannot ask. The name is an
// approximation of "idle in the pool": a container that a Start took is
// renamed after its instance in the background (5 to 300 ms after Start
// returned; not at all if the instance ended first), so right after a
// Start it may not be counted yet (poll for a count that must grow), and
// a taken container leaked with its pool name would not be seen (check
// NodeContainers once the node has stopped). With the runtime at hand,
// use InstanceContainersOf, which is exact.
func InstanceContainers(ctx context.Context, c *client.Client, nodeID string) ([]string, error) {
	res, err := c.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", container.LabelNodeID+"="+nodeID),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of node %s: %w", nodeID, err)
	}
	ids := make([]string, 0, len(res.Items))
	for _, it := range res.Items {
		pooled := slices.ContainsFunc(it.Names, func(n string) bool { return strings.HasPrefix(strings.TrimPrefix(n, "/"), container.PoolNamePrefix) })
		if it.Labels[container.LabelNodeID] == nodeID && !pooled {
			ids = append(ids, it.ID)
		}
	}
	return ids, nil
}

// InstanceContainersOf returns the ids of the containers labelled with
// rt's node id that its prewarm pool does not hold (rt.PoolContainers,
// asked after the list: a container only ever leaves the pool), in any
// state: its instances' containers, taken pooled ones whatever their name,
// and leftovers.
func InstanceContainersOf(ctx context.Context, c *client.Client, rt *container.Runtime, nodeID string) ([]string, error) {
	// The pool's books before and after the engine's list: a container
	// the pool evicts leaves them before the engine removes it, and one it
	// fills joins them after the engine has it.
	pool := rt.PoolContainers()
	ids, err := NodeContainers(ctx, c, nodeID)
	if err != nil {
		return nil, err
	}
	pool = append(pool, rt.PoolContainers()...)
	return slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(pool, id) }), nil
}

// RemoveNodeContainers force-removes the containers labelled with nodeID
// and returns how many it removed.
func RemoveNodeContainers(ctx context.Context, c *client.Client, nodeID string) (int, error) {
	ids, err := NodeContainers(ctx, c, nodeID)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, id := range ids {
		if _, err := c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// GatewayListener listens, on a free port, on the gateway of the shared
// function network (container.DefaultNetwork, created if missing): where a
// runtime's GuestAPIHost server must be for its containers to reach it.
func GatewayListener(t testing.TB) net.Listener {
	t.Helper()
	RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := container.EnsureNetwork(ctx, container.DefaultNetwork)
	if err != nil {
		t.Fatalf("function network: %v", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(n.Gateway.String(), "0"))
	if err != nil {
		t.Fatalf("listen on the gateway of network %s: %v", n.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// RemoveImage removes the image tagged tag (built by the test), with the
// layers only it uses. An image already gone is not an error.
func RemoveImage(t testing.TB, tag string) {
	t.Helper()
	c := RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		t.Errorf("remove image %s: %v", tag, err)
	}
}
