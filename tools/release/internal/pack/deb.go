package pack

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// Paths of the .deb's files.
const (
	UnitPath    = "/usr/lib/systemd/system/edgeless-node.service"
	DropInPath  = "/usr/lib/systemd/system/edgeless-node.service.d/10-restart-backoff.conf"
	ConfigPath  = "/etc/edgeless/node.toml"
	StateDir    = "/var/lib/edgeless"
	PackageName = "edgeless"
)

var (
	//go:embed packaging/edgeless-node.service
	unitFile []byte
	//go:embed packaging/10-restart-backoff.conf
	backoffDropIn []byte
	//go:embed packaging/postinst.sh
	postinst []byte
	//go:embed packaging/prerm.sh
	prerm []byte
	//go:embed packaging/postrm.sh
	postrm []byte
)

// writeDeb makes the .deb of target t from the binaries in bin, with nfpm:
// the binaries in /usr/bin, the systemd unit and its drop-in, the node's
// template as the conffile /etc/edgeless/node.toml, the state directory and
// the maintainer scripts. Its times are o.Time, so it is reproducible.
func writeDeb(ctx context.Context, o Options, t Target, bin string) (string, error) {
	stage, err := os.MkdirTemp("", "edgeless-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	conf, err := packagedConfig(ctx, o)
	if err != nil {
		return "", err
	}
	staged := map[string][]byte{
		"edgeless-node.service": unitFile, "10-restart-backoff.conf": backoffDropIn, "node.toml": conf,
		"postinst": postinst, "prerm": prerm, "postrm": postrm,
	}
	for name, data := range staged {
		if err := os.WriteFile(filepath.Join(stage, name), data, 0o644); err != nil {
			return "", err
		}
	}
	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: o.Time}
	}
	contents := files.Contents{
		{Source: filepath.Join(stage, "edgeless-node.service"), Destination: UnitPath, FileInfo: fi(0o644)},
		{Source: filepath.Join(stage, "10-restart-backoff.conf"), Destination: DropInPath, FileInfo: fi(0o644)},
		{Source: filepath.Join(stage, "node.toml"), Destination: ConfigPath, Type: files.TypeConfigNoReplace, FileInfo: fi(0o644)},
		{Destination: StateDir, Type: files.TypeDir, FileInfo: fi(0o750)},
	}
	for _, b := range Binaries {
		contents = append(contents, &files.Content{Source: filepath.Join(bin, b), Destination: "/usr/bin/" + b, FileInfo: fi(0o755)})
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        PackageName,
		Arch:        t.DebArch,
		Platform:    "linux",
		Version:     o.Version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "edgeless-go maintainers <edgeless-go@users.noreply.github.com>",
		Homepage:    "https://github.com/edgeless-go/edgeless",
		Description: "EDGELESS node running functions as Docker containers\nedgeless-node (with a systemd unit), edgeless-inabox and the edgeless CLI,\nwire-compatible with upstream EDGELESS (commit " + o.Commit + ").",
		MTime:       o.Time,
		Overridables: nfpm.Overridables{
			Recommends: []string{"docker.io | docker-ce"},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(stage, "postinst"),
				PreRemove:   filepath.Join(stage, "prerm"),
				PostRemove:  filepath.Join(stage, "postrm"),
			},
		},
	})
	pkger, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	path := filepath.Join(o.Out, pkger.ConventionalFileName(info))
	var buf bytes.Buffer
	if err := pkger.Package(info, &buf); err != nil {
		return "", fmt.Errorf("package %s .deb: %w", t.Name, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

var (
	nodeIDLine   = regexp.MustCompile(`(?m)^node_id = ".*"$`)
	stateDirLine = regexp.MustCompile(`(?m)^state_dir = ".*"$`)
	detectedLine = regexp.MustCompile(`(?m)^# ([a-z_]+) = .*$`)
)

// packagedConfig returns the .deb's /etc/edgeless/node.toml: what
// `edgeless-node -t` writes, with no node id (the node makes one on its
// first start and keeps it in the state directory: one package serves every
// machine), the state in StateDir, and the build machine's detected
// capabilities taken out of the comments.
func packagedConfig(ctx context.Context, o Options) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "edgeless-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "node.toml")
	var cmd *exec.Cmd
	if host := filepath.Join(o.Out, "build", hostTarget(), "edgeless-node"); hostTarget() != "" && exists(host) {
		cmd = exec.CommandContext(ctx, host, "-t", path)
	} else {
		cmd = exec.CommandContext(ctx, "go", "run", "./cmd/edgeless-node", "-t", path)
		cmd.Dir = filepath.Join(o.Root, "node")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("edgeless-node -t: %w\n%s", err, out)
	}
	tmpl, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return scrubTemplate(tmpl)
}

// scrubTemplate makes the template machine-neutral (see packagedConfig).
func scrubTemplate(tmpl []byte) ([]byte, error) {
	if n := len(nodeIDLine.FindAll(tmpl, -1)); n != 1 {
		return nil, fmt.Errorf("edgeless-node -t: %d node_id lines, want 1", n)
	}
	if n := len(stateDirLine.FindAll(tmpl, -1)); n != 1 {
		return nil, fmt.Errorf("edgeless-node -t: %d state_dir lines, want 1", n)
	}
	out := nodeIDLine.ReplaceAll(tmpl, []byte(`node_id = ""`))
	out = stateDirLine.ReplaceAll(out, []byte(`state_dir = "`+StateDir+`"`))
	head, caps, ok := bytes.Cut(out, []byte("\n[user_node_capabilities]\n"))
	if !ok {
		return nil, fmt.Errorf("edgeless-node -t: no [user_node_capabilities] section")
	}
	rest := []byte{}
	if i := bytes.Index(caps, []byte("\n[")); i >= 0 {
		caps, rest = caps[:i], caps[i:]
	}
	caps = detectedLine.ReplaceAll(caps, []byte("# $1 ="))
	return bytes.Join([][]byte{head, []byte("\n[user_node_capabilities]\n"), caps, rest}, nil), nil
}

// hostTarget is the name of the target this machine runs, or "".
func hostTarget() string {
	for _, t := range Targets {
		if t.GOARCH == runtime.GOARCH {
			return t.Name
		}
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
