package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/imagebuild"
	"github.com/moby/moby/client"
)

// exampleFunctions are the example functions the demo builds, in
// examples/<name>, each into the image ExampleTag(name).
var exampleFunctions = []string{"ticker", "transformer", "sink", "web"}

// ExampleTag is the image tag of an example function, as examples/workflow.json names it.
func ExampleTag(name string) string { return "edgeless-example-" + name + ":dev" }

// dockerClient connects to the engine (from the environment, API version
// negotiated) and checks that it answers.
func dockerClient(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("the Docker engine does not answer (is Docker running, and may this user use it?): %w", err)
	}
	return c, nil
}

// buildExampleImages compiles the example functions of the examples module
// in dir as static Linux binaries and builds their images through the
// Engine API, from examples/Dockerfile (FROM scratch: nothing is pulled).
func buildExampleImages(ctx context.Context, dc *client.Client, dir string, out io.Writer) error {
	dockerfile, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return fmt.Errorf("examples: %w", err)
	}
	bins, err := os.MkdirTemp("", "edgeless-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bins)
	t0 := time.Now()
	args := []string{"build", "-trimpath", "-o", bins + string(filepath.Separator)}
	for _, f := range exampleFunctions {
		args = append(args, "./"+f)
	}
	if err := goCommand(ctx, dir, args...); err != nil {
		return err
	}
	fmt.Fprintf(out, "    compiled %s in %s\n", strings.Join(exampleFunctions, ", "), fmtDuration(time.Since(t0)))
	for _, f := range exampleFunctions {
		bin, err := os.ReadFile(filepath.Join(bins, f))
		if err != nil {
			return fmt.Errorf("read binary of %s: %w", f, err)
		}
		t0 := time.Now()
		tag := ExampleTag(f)
		if err := imagebuild.Build(ctx, dc, tag, map[string][]byte{"Dockerfile": dockerfile, "function": bin}); err != nil {
			return err
		}
		fmt.Fprintf(out, "    built image %-36s in %s\n", tag, fmtDuration(time.Since(t0)))
	}
	return nil
}

// goCommand runs the go tool in dir for static Linux binaries.
func goCommand(ctx context.Context, dir string, args ...string) error {
	return goCommandFor(ctx, dir, "linux", runtime.GOARCH, args...)
}

// goCommandFor runs the go tool in dir for goos/goarch, without cgo.
func goCommandFor(ctx context.Context, dir, goos, goarch string, args ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, msg)
	}
	return nil
}

// nodeContainers returns the ids of the containers labelled with nodeID, in
// any state.
func nodeContainers(ctx context.Context, dc *client.Client, nodeID string) ([]string, error) {
	res, err := dc.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", container.LabelNodeID+"="+nodeID),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of node %s: %w", nodeID, err)
	}
	var ids []string
	for _, it := range res.Items {
		ids = append(ids, it.ID)
	}
	return ids, nil
}
