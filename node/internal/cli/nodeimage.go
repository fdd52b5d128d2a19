package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/nodeimage"
	"github.com/spf13/cobra"
)

func newNodeImageCommand() *cobra.Command {
	var tag, binary, dir string
	cmd := &cobra.Command{
		Use:   "node-image",
		Short: "Build the node's image (" + nodeimage.Tag + ") through the Engine API",
		Long: `Build the node's container image, FROM scratch, through the Docker Engine API
(no registry): a static edgeless-node binary (--binary, or compiled from the
node module of this repository) and a default /etc/edgeless/node.toml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Minute)
			defer cancel()
			dc, err := dockerClient(ctx)
			if err != nil {
				return err
			}
			defer dc.Close()
			bin, err := nodeBinary(ctx, binary, dir)
			if err != nil {
				return err
			}
			t0 := time.Now()
			if err := nodeimage.Build(ctx, dc, tag, bin); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built image %s in %s\n", tag, fmtDuration(time.Since(t0)))
			return nil
		},
	}
	cmd.Flags().StringVar(&tag, "tag", nodeimage.Tag, "image tag")
	cmd.Flags().StringVar(&binary, "binary", "", "a static linux edgeless-node binary for the engine's architecture (default: compile one)")
	cmd.Flags().StringVar(&dir, "node-module", "", "the node module to compile (default: node/ of the repository holding the current directory)")
	return cmd
}

// nodeBinary reads path, or compiles edgeless-node from the node module in
// dir (or found from the current directory) for this machine's architecture.
func nodeBinary(ctx context.Context, path, dir string) ([]byte, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--binary: %w", err)
		}
		return b, nil
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "node", "cmd", "edgeless-node")); err == nil {
				dir = filepath.Join(d, "node")
				break
			}
			if filepath.Dir(d) == d {
				return nil, fmt.Errorf("no node/cmd/edgeless-node in %s or its parents: give --binary or --node-module", wd)
			}
		}
	}
	return nodeimage.Compile(ctx, dir, runtime.GOARCH)
}
