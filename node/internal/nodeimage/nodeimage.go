// Package nodeimage builds the node's container image (edgeless-node:dev):
// a FROM scratch image holding the static edgeless-node binary and a
// default config made from the node's own template, built through the
// Engine API with no registry, as the function images are.
package nodeimage

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/imagebuild"
)

// Tag is the image's default tag.
const Tag = "edgeless-node:dev"

// StateDir is the image's state directory (a volume): the functions'
// NodeLocal state and the node id file.
const StateDir = "/var/lib/edgeless"

//go:embed Dockerfile
var dockerfile []byte

// Config returns the image's /etc/edgeless/node.toml: the node's template
// with no node id (one is made on the first start and kept in StateDir),
// the state and the file-log directory in StateDir, the agent, data plane,
// metrics and http-ingress on every address (the container runs on the host
// network), the container runtime on and upstream's template providers.
func Config() []byte {
	c := config.Default()
	c.General.NodeID = ""
	c.General.StateDir = StateDir
	c.General.AgentURL = "http://0.0.0.0:7005"
	c.General.InvocationURL = "http://0.0.0.0:7006"
	c.Telemetry.MetricsURL = "http://0.0.0.0:7007"
	c.Resources.HTTPIngressURL = "http://0.0.0.0:7008"
	c.Resources.FileLogDir = StateDir + "/file_log"
	return config.Template(c, config.UserNodeCapabilities{})
}

// Files returns the image's build context around an edgeless-node binary.
func Files(binary []byte) map[string][]byte {
	return map[string][]byte{"Dockerfile": dockerfile, "node.toml": Config(), "edgeless-node": binary}
}

// Build builds the image tagged tag around an edgeless-node binary (static,
// for the engine's architecture) through the Engine API.
func Build(ctx context.Context, b imagebuild.Builder, tag string, binary []byte) error {
	if len(binary) == 0 {
		return fmt.Errorf("build image %s: empty edgeless-node binary", tag)
	}
	return imagebuild.Build(ctx, b, tag, Files(binary))
}

// Compile builds edgeless-node from the node module in dir as a static,
// -trimpath Linux binary for goarch and returns it.
func Compile(ctx context.Context, dir, goarch string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "edgeless-node-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "edgeless-node")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/edgeless-node")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build edgeless-node in %s: %w\n%s", dir, err, msg)
	}
	return os.ReadFile(out)
}
