// Command release builds the release of edgeless-go into dist/: static,
// -trimpath binaries of edgeless-node, edgeless-inabox and edgeless for
// linux/amd64, linux/arm64 and linux/arm/v7, stamped with the version and
// commit, as edgeless_<version>_linux_<arch>.tar.gz and .deb packages (nfpm
// as a library), and SHA256SUMS. The same source gives the same bytes.
//
//	go run ./tools/release -version 1.2.0        # from the repository root
//
// Without flags the version is the newest v* tag (else 0.0.0-dev), the
// commit and the files' time are HEAD's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/edgeless-go/edgeless/tools/release/internal/pack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "release:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	var o pack.Options
	var epoch int64
	var arch string
	fs.StringVar(&o.Root, "root", ".", "the repository's root directory")
	fs.StringVar(&o.Out, "out", "dist", "output directory")
	fs.StringVar(&o.Version, "version", "", "version to stamp (default: newest v* tag without the v, else 0.0.0-dev)")
	fs.StringVar(&o.Commit, "commit", "", "commit to stamp (default: HEAD, 12 hex digits)")
	fs.Int64Var(&epoch, "time", 0, "files' time in Unix seconds (default: SOURCE_DATE_EPOCH, else HEAD's commit time)")
	fs.StringVar(&arch, "arch", "", "comma-separated targets (amd64, arm64, armv7; default all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Version == "" {
		o.Version = "0.0.0-dev"
		if v, err := git(ctx, o.Root, "describe", "--tags", "--match", "v[0-9]*"); err == nil {
			o.Version = strings.TrimPrefix(v, "v")
		}
	}
	if o.Commit == "" {
		c, err := git(ctx, o.Root, "rev-parse", "--short=12", "HEAD")
		if err != nil {
			return fmt.Errorf("commit: %w (give -commit)", err)
		}
		o.Commit = c
	}
	if epoch == 0 {
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("SOURCE_DATE_EPOCH %q: want Unix seconds", s)
			}
			epoch = n
		} else {
			s, err := git(ctx, o.Root, "log", "-1", "--format=%ct")
			if err != nil {
				return fmt.Errorf("commit time: %w (give -time)", err)
			}
			if epoch, err = strconv.ParseInt(s, 10, 64); err != nil {
				return fmt.Errorf("commit time %q: %w", s, err)
			}
		}
	}
	o.Time = time.Unix(epoch, 0).UTC()
	if arch != "" {
		for name := range strings.SplitSeq(arch, ",") {
			t, ok := pack.TargetNamed(strings.TrimSpace(name))
			if !ok {
				return fmt.Errorf("-arch %q: want amd64, arm64 or armv7", name)
			}
			o.Targets = append(o.Targets, t)
		}
	}
	arts, err := pack.Build(ctx, o)
	if err != nil {
		return err
	}
	for _, a := range arts {
		fmt.Fprintln(out, a.Path)
	}
	fmt.Fprintf(out, "edgeless %s (commit %s) built into %s\n", o.Version, o.Commit, o.Out)
	return nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
