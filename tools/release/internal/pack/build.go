// Package pack builds the release of edgeless-go: static, -trimpath
// binaries of edgeless-node, edgeless-inabox and edgeless for each target
// architecture, stamped with the version and commit, packed as
// reproducible tarballs and .deb packages (made with nfpm as a library),
// with a SHA256SUMS file.
package pack

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binaries are the programs of a release, each built from
// node/cmd/<name>.
var Binaries = []string{"edgeless-node", "edgeless-inabox", "edgeless"}

// Target is an architecture a release is built for.
type Target struct {
	// Name is the architecture in file names: amd64, arm64, armv7.
	Name string
	// GOARCH and GOARM are what the Go toolchain is given.
	GOARCH, GOARM string
	// DebArch is Debian's name of the architecture.
	DebArch string
	// Machine is the ELF machine of the binaries.
	Machine elf.Machine
	// QEMU is the qemu-user-static emulator that runs the binaries on
	// another architecture.
	QEMU string
}

// Targets are linux/amd64, linux/arm64 and linux/arm/v7.
var Targets = []Target{
	{Name: "amd64", GOARCH: "amd64", DebArch: "amd64", Machine: elf.EM_X86_64, QEMU: "qemu-x86_64-static"},
	{Name: "arm64", GOARCH: "arm64", DebArch: "arm64", Machine: elf.EM_AARCH64, QEMU: "qemu-aarch64-static"},
	{Name: "armv7", GOARCH: "arm", GOARM: "7", DebArch: "armhf", Machine: elf.EM_ARM, QEMU: "qemu-arm-static"},
}

// Options say what to build and where.
type Options struct {
	// Root is the repository's root directory.
	Root string
	// Out is the output directory (dist/).
	Out string
	// Version and Commit are stamped into the binaries (what --version
	// prints) and name the files.
	Version, Commit string
	// Time is every file's modification time in the archives (the commit's
	// time, so that the same source gives the same bytes).
	Time time.Time
	// Targets are the architectures to build; all of Targets when empty.
	Targets []Target
}

// Artifact is one file of a release.
type Artifact struct {
	// Target is the architecture it is for.
	Target Target
	// Path is the file.
	Path string
}

// Build builds the binaries of every target into Out/build/<target>/, packs
// them into Out/edgeless_<version>_linux_<target>.tar.gz and a .deb, and
// writes Out/SHA256SUMS. It returns the tarballs and .debs.
func Build(ctx context.Context, o Options) ([]Artifact, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if len(o.Targets) == 0 {
		o.Targets = Targets
	}
	// The go tool runs in the node module: relative paths would move.
	var err error
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		return nil, err
	}
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	var arts []Artifact
	for _, t := range o.Targets {
		bin := filepath.Join(o.Out, "build", t.Name)
		if err := compile(ctx, o, t, bin); err != nil {
			return nil, err
		}
		tgz, err := writeTarball(o, t, bin)
		if err != nil {
			return nil, err
		}
		deb, err := writeDeb(ctx, o, t, bin)
		if err != nil {
			return nil, err
		}
		arts = append(arts, Artifact{t, tgz}, Artifact{t, deb})
	}
	if err := writeSums(o.Out, arts); err != nil {
		return nil, err
	}
	return arts, nil
}

func (o Options) check() error {
	switch {
	case o.Root == "" || o.Out == "":
		return fmt.Errorf("release: the root and output directories are required")
	case o.Version == "" || strings.ContainsAny(o.Version, "/ \t\n_"):
		return fmt.Errorf("release: version %q: want a version such as 1.2.0 or 0.0.0-dev (no /, _ or spaces)", o.Version)
	case o.Version[0] < '0' || o.Version[0] > '9':
		return fmt.Errorf("release: version %q: want it to start with a digit (Debian requires it)", o.Version)
	case o.Commit == "" || strings.ContainsAny(o.Commit, " \t\n'\""):
		return fmt.Errorf("release: commit %q: want a commit id", o.Commit)
	case o.Time.IsZero():
		return fmt.Errorf("release: the files' time is required (the commit's time)")
	}
	return nil
}

// LDFlags are the linker flags of the release binaries: no symbol table or
// DWARF, and the version and commit that --version prints.
func LDFlags(version, commit string) string {
	return "-s -w -X main.version=" + version + " -X main.commit=" + commit
}

// compile builds the binaries of t into dir: static (CGO_ENABLED=0),
// -trimpath, no VCS stamp (the commit is stamped through -ldflags, so that
// a dirty tree does not change the bytes of unchanged sources), and with
// GOWORK=off, so that the node module's own go.mod and go.sum decide every
// dependency version (the workspace also holds this tool's dependencies).
func compile(ctx context.Context, o Options, t Target, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", LDFlags(o.Version, o.Commit), "-o", dir + string(filepath.Separator)}
	for _, b := range Binaries {
		args = append(args, "./cmd/"+b)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(o.Root, "node")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.GOARCH, "GOARM="+t.GOARM, "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s binaries: %w\n%s", t.Name, err, out)
	}
	return nil
}

// TargetNamed returns the target called name (amd64, arm64, armv7).
func TargetNamed(name string) (Target, bool) {
	for _, t := range Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}
