package pack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blakesmith/ar"
	"github.com/google/go-cmp/cmp"
)

const (
	testVersion    = "0.9.1-test"
	testDebVersion = "0.9.1~test"
	testCommit     = "c0ffee123456"
)

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testOptions(t *testing.T, out string) Options {
	t.Helper()
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node", "cmd", "edgeless-node")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	return Options{Root: root, Out: out, Version: testVersion, Commit: testCommit, Time: testTime}
}

var built struct {
	once sync.Once
	dir  string
	tool string
	arts []Artifact
	err  error
}

// release builds the release once per test process (all targets) by
// running the release command, built without the race detector (so that
// `go test -race` does not slow down compressing ~100 MB), and returns the
// output directory and its tarballs and .debs.
func release(t *testing.T) (string, []Artifact) {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "edgeless-release-test-")
		if built.err != nil {
			return
		}
		built.tool = filepath.Join(built.dir, "release-tool")
		cmd := exec.Command("go", "build", "-o", built.tool, "../..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build the release command: %v\n%s", err, out)
			return
		}
		out := filepath.Join(built.dir, "dist")
		built.err = runTool(t, out, "")
		if built.err != nil {
			return
		}
		for _, tg := range Targets {
			built.arts = append(built.arts,
				Artifact{tg, filepath.Join(out, TarballName(testVersion, tg))},
				Artifact{tg, filepath.Join(out, PackageName+"_"+testDebVersion+"_"+tg.DebArch+".deb")})
		}
		built.dir = out
	})
	if built.err != nil {
		t.Fatalf("release: %v", built.err)
	}
	return built.dir, built.arts
}

// runTool runs the release command with the test's version, commit and
// time into out (targets: arch, or all when empty).
func runTool(t *testing.T, out, arch string) error {
	t.Helper()
	o := testOptions(t, out)
	args := []string{"-root", o.Root, "-out", out, "-version", testVersion, "-commit", testCommit,
		"-time", strconv.FormatInt(testTime.Unix(), 10)}
	if arch != "" {
		args = append(args, "-arch", arch)
	}
	if msg, err := exec.Command(built.tool, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("release %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.tool != "" {
		os.RemoveAll(filepath.Dir(built.tool))
	}
	os.Exit(code)
}

// requireTool returns the path of a tool, skipping the test when it is
// missing (failing instead in CI, where .ci/run installs it).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found (apt-get install -y %s)", name, pkg)
	if os.Getenv("EDGELESS_REQUIRE_DOCKER") == "1" || os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// tarFiles reads a .tar.gz and returns its headers and file contents.
func tarFiles(t *testing.T, data []byte) ([]*tar.Header, map[string][]byte, *gzip.Reader) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var hdrs []*tar.Header
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "./")] = b
		}
	}
	return hdrs, files, zr
}

func tarball(t *testing.T, dir string, tg Target) ([]*tar.Header, map[string][]byte, *gzip.Reader) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, TarballName(testVersion, tg)))
	if err != nil {
		t.Fatal(err)
	}
	return tarFiles(t, data)
}

func TestRelease_BinariesAreStaticForTheirArchitecture(t *testing.T) {
	dir, _ := release(t)
	for _, tg := range Targets {
		_, files, _ := tarball(t, dir, tg)
		for _, b := range Binaries {
			name := "edgeless_" + testVersion + "_linux_" + tg.Name + "/" + b
			f, err := elf.NewFile(bytes.NewReader(files[name]))
			if err != nil {
				t.Errorf("%s: not an ELF file: %v", name, err)
				continue
			}
			if f.Machine != tg.Machine || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Errorf("%s: ELF machine %v, OS ABI %v; want %v for linux", name, f.Machine, f.OSABI, tg.Machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("%s: has a %v program header; want a static binary", name, p.Type)
				}
			}
			if tg.Name == "armv7" {
				// e_flags (offset 0x24 in a 32-bit header): EABI version 5,
				// hard float (what GOARM=7 builds).
				raw := files[name]
				flags := uint32(raw[0x24]) | uint32(raw[0x25])<<8 | uint32(raw[0x26])<<16 | uint32(raw[0x27])<<24
				if f.Class != elf.ELFCLASS32 || flags&0xff000000 != 0x05000000 {
					t.Errorf("%s: class %v, flags %#x; want a 32-bit EABI5 binary", name, f.Class, flags)
				}
			}
		}
	}
}

func TestRelease_VersionUnderQEMU(t *testing.T) {
	dir, _ := release(t)
	for _, tg := range Targets {
		t.Run(tg.Name, func(t *testing.T) {
			var emu string
			if tg.Name != hostTarget() {
				emu = requireTool(t, tg.QEMU, "qemu-user-static")
			}
			for _, b := range Binaries {
				path := filepath.Join(dir, "build", tg.Name, b)
				args := []string{path, "--version"}
				if emu != "" {
					args = append([]string{emu}, args...)
				}
				out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
				want := testVersion + " (commit " + testCommit + ")"
				if err != nil || !strings.Contains(string(out), want) || !strings.HasPrefix(string(out), b+" ") {
					t.Errorf("%s --version = %q, %v; want %q", strings.Join(args, " "), out, err, b+" … "+want)
				}
			}
		})
	}
}

func TestRelease_ReproducibleArchives(t *testing.T) {
	dir, _ := release(t)
	// The tarballs: one top directory, sorted names, root owner, the given
	// time, and a gzip header without name or time.
	for _, tg := range Targets {
		hdrs, files, zr := tarball(t, dir, tg)
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("%s: gzip header name %q, time %v; want neither", tg.Name, zr.Name, zr.ModTime)
		}
		var names []string
		for _, h := range hdrs {
			names = append(names, h.Name)
			if !h.ModTime.Equal(testTime) || h.Uname != "root" || h.Gname != "root" || h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s: %s has time %v, owner %s:%s (%d:%d); want %v, root", tg.Name, h.Name, h.ModTime, h.Uname, h.Gname, h.Uid, h.Gid, testTime)
			}
		}
		top := "edgeless_" + testVersion + "_linux_" + tg.Name + "/"
		want := []string{top, top + "README.md", top + "edgeless", top + "edgeless-inabox", top + "edgeless-node",
			top + "systemd/", top + "systemd/edgeless-node.service", top + "systemd/edgeless-node.service.d/",
			top + "systemd/edgeless-node.service.d/10-restart-backoff.conf"}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("%s tarball entries (-want +got):\n%s", tg.Name, diff)
		}
		if len(files[top+"edgeless-node"]) == 0 {
			t.Errorf("%s: empty edgeless-node", tg.Name)
		}
	}

	// The same source and options give the same bytes: a second build in
	// another directory (of arm64 only, to keep CI short; every target
	// takes the same path) gives the tarball and .deb the same sums.
	again := t.TempDir()
	if err := runTool(t, again, "arm64"); err != nil {
		t.Fatalf("second build: %v", err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	second, _ := os.ReadFile(filepath.Join(again, "SHA256SUMS"))
	var firstARM64 []string
	for line := range strings.SplitSeq(string(first), "\n") {
		if strings.HasSuffix(line, "_linux_arm64.tar.gz") || strings.HasSuffix(line, "_arm64.deb") {
			firstARM64 = append(firstARM64, line)
		}
	}
	if diff := cmp.Diff(strings.Join(firstARM64, "\n")+"\n", string(second)); diff != "" || len(firstARM64) != 2 {
		t.Errorf("SHA256SUMS of two builds of the same source differ (-first +second):\n%s", diff)
	}
}

func TestRelease_SHA256SUMS(t *testing.T) {
	dir, arts := release(t)
	data, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q: want \"<sha256>  <name>\"", sc.Text())
		}
		file, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(file)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s has sum %s, the file %x", name, sum, h)
		}
		got = append(got, name)
	}
	var want []string
	for _, a := range arts {
		want = append(want, filepath.Base(a.Path))
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SHA256SUMS names (-want +got):\n%s", diff)
	}
	if len(want) != 2*len(Targets) {
		t.Errorf("%d artifacts, want a tarball and a .deb for each of %d targets", len(want), len(Targets))
	}
}

// debParts reads a .deb (an ar archive) and returns its control and data
// tarballs' headers and files.
func debParts(t *testing.T, path string) (ctrl, data map[string][]byte, dataHdrs []*tar.Header) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := ar.NewReader(f)
	var members []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		members = append(members, name)
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		switch name {
		case "control.tar.gz":
			_, ctrl, _ = tarFiles(t, b)
		case "data.tar.gz":
			dataHdrs, data, _ = tarFiles(t, b)
		}
	}
	if diff := cmp.Diff([]string{"debian-binary", "control.tar.gz", "data.tar.gz"}, members); diff != "" {
		t.Fatalf("%s members (-want +got):\n%s", path, diff)
	}
	return ctrl, data, dataHdrs
}

func debPath(t *testing.T, arts []Artifact, tg Target) string {
	t.Helper()
	for _, a := range arts {
		if a.Target.Name == tg.Name && strings.HasSuffix(a.Path, ".deb") {
			return a.Path
		}
	}
	t.Fatalf("no .deb for %s", tg.Name)
	return ""
}

func TestDeb_Contents(t *testing.T) {
	_, arts := release(t)
	for _, tg := range Targets {
		t.Run(tg.Name, func(t *testing.T) {
			path := debPath(t, arts, tg)
			if want := PackageName + "_" + testDebVersion + "_" + tg.DebArch + ".deb"; filepath.Base(path) != want {
				t.Errorf(".deb name = %s, want %s", filepath.Base(path), want)
			}
			ctrl, data, hdrs := debParts(t, path)
			control := string(ctrl["control"])
			for _, want := range []string{"Package: edgeless\n", "Version: " + testDebVersion + "\n",
				"Architecture: " + tg.DebArch + "\n", "Recommends: docker.io | docker-ce\n"} {
				if !strings.Contains(control, want) {
					t.Errorf("control lacks %q:\n%s", want, control)
				}
			}
			if got := string(ctrl["conffiles"]); got != ConfigPath+"\n" {
				t.Errorf("conffiles = %q, want %q (the config is never overwritten)", got, ConfigPath+"\n")
			}
			for script, wants := range map[string][]string{
				"postinst": {"useradd --system", "systemctl enable edgeless-node.service", "try-restart"},
				"prerm":    {"systemctl disable --now edgeless-node.service"},
				"postrm":   {"purge", "rm -rf /var/lib/edgeless"},
			} {
				s := string(ctrl[script])
				if !strings.HasPrefix(s, "#!/bin/sh\n") {
					t.Errorf("%s does not start with #!/bin/sh", script)
				}
				for _, w := range wants {
					if !strings.Contains(s, w) {
						t.Errorf("%s lacks %q", script, w)
					}
				}
				if m := regexp.MustCompile(`\b(curl|wget|apt-get|apt|pip|docker pull|go )\b`).FindString(s); m != "" {
					t.Errorf("%s uses %q: nothing may need a network at install time", script, m)
				}
				if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
					t.Errorf("sh -n %s: %v\n%s", script, err, out)
				}
			}

			modes := map[string]int64{}
			for _, h := range hdrs {
				modes[strings.TrimSuffix(strings.TrimPrefix(h.Name, "."), "/")] = h.Mode
				if h.Uname != "root" || !h.ModTime.Equal(testTime) {
					t.Errorf("%s: owner %s, time %v; want root, %v", h.Name, h.Uname, h.ModTime, testTime)
				}
			}
			for p, want := range map[string]int64{
				"/usr/bin/edgeless-node": 0o755, "/usr/bin/edgeless-inabox": 0o755, "/usr/bin/edgeless": 0o755,
				UnitPath: 0o644, DropInPath: 0o644, ConfigPath: 0o644, StateDir: 0o750,
			} {
				if got, ok := modes[p]; !ok || got != want {
					t.Errorf("%s: mode %o (present %v), want %o", p, got, ok, want)
				}
			}
			if f, err := elf.NewFile(bytes.NewReader(data["usr/bin/edgeless-node"])); err != nil || f.Machine != tg.Machine {
				t.Errorf("/usr/bin/edgeless-node is not a %v ELF binary (%v)", tg.Machine, err)
			}
			if !bytes.Equal(data[strings.TrimPrefix(UnitPath, "/")], unitFile) {
				t.Errorf("%s differs from packaging/edgeless-node.service", UnitPath)
			}

			conf := string(data[strings.TrimPrefix(ConfigPath, "/")])
			for _, want := range []string{"node_id = \"\"\n", "state_dir = \"" + StateDir + "\"\n",
				"node_register_url = ", "# num_cpus =\n"} {
				if !strings.Contains(conf, want) {
					t.Errorf("node.toml lacks %q:\n%s", want, conf)
				}
			}
			if !regexp.MustCompile(`(?s)\[container_runtime\]\n(#[^\n]*\n)*enabled = true\n`).MatchString(conf) {
				t.Errorf("node.toml does not enable the container runtime:\n%s", conf)
			}
			if host, _ := os.Hostname(); host != "" && strings.Contains(conf, host) {
				t.Errorf("node.toml holds the build machine's hostname %q", host)
			}
			if m := regexp.MustCompile(`(?m)^# (num_cpus|mem_size|disk_tot_space) = \S.*$`).FindString(conf); m != "" {
				t.Errorf("node.toml holds a value detected on the build machine: %q", m)
			}
		})
	}
}

// unitKeys parses a systemd unit into "Section.Key" -> values.
func unitKeys(unit []byte) map[string][]string {
	out := map[string][]string{}
	section := ""
	for line := range strings.SplitSeq(string(unit), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func TestUnit_Settings(t *testing.T) {
	t.Parallel()
	keys := unitKeys(unitFile)
	for k, want := range map[string]string{
		"Service.ExecStart":           "/usr/bin/edgeless-node --config-file /etc/edgeless/node.toml --log-format json",
		"Service.Restart":             "on-failure",
		"Service.KillSignal":          "SIGTERM",
		"Service.User":                "edgeless",
		"Service.SupplementaryGroups": "docker",
		"Service.NoNewPrivileges":     "yes",
		"Service.ProtectSystem":       "strict",
		"Service.ProtectHome":         "yes",
		"Service.PrivateTmp":          "yes",
		"Service.StateDirectory":      "edgeless",
		"Service.StandardError":       "journal",
		"Unit.StartLimitIntervalSec":  "0",
		"Install.WantedBy":            "multi-user.target",
	} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("unit %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := keys["Service.ReadWritePaths"]; ok {
		t.Error("unit has ReadWritePaths: only the state directory is writable")
	}
	drop := unitKeys(backoffDropIn)
	if len(drop["Service.RestartSteps"]) != 1 || len(drop["Service.RestartMaxDelaySec"]) != 1 {
		t.Errorf("restart backoff drop-in = %v, want RestartSteps and RestartMaxDelaySec", drop)
	}
}

// TestUnit_SystemdAnalyzeVerify runs systemd-analyze verify on the unit of
// the amd64 .deb. verify wants ExecStart's program to exist, so the unit is
// verified with ExecStart pointing at the extracted edgeless-node.
func TestUnit_SystemdAnalyzeVerify(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "systemd")
	_, arts := release(t)
	host, ok := TargetNamed(hostTarget())
	if !ok {
		t.Skip("no release target for this machine's architecture")
	}
	_, data, _ := debParts(t, debPath(t, arts, host))
	dir := t.TempDir()
	bin := filepath.Join(dir, "edgeless-node")
	if err := os.WriteFile(bin, data["usr/bin/edgeless-node"], 0o755); err != nil {
		t.Fatal(err)
	}
	unit := bytes.ReplaceAll(data[strings.TrimPrefix(UnitPath, "/")], []byte("/usr/bin/edgeless-node"), []byte(bin))
	unitPath := filepath.Join(dir, "edgeless-node.service")
	if err := os.WriteFile(unitPath, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func() string {
		out, err := exec.Command(analyze, "verify", unitPath).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := verify(); out != "" {
		t.Errorf("systemd-analyze verify edgeless-node.service printed:\n%s", out)
	}

	// With the backoff drop-in: clean on systemd 254 and later; older
	// versions name only its two keys as unknown.
	if err := os.MkdirAll(unitPath+".d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unitPath+".d", filepath.Base(DropInPath)), data[strings.TrimPrefix(DropInPath, "/")], 0o644); err != nil {
		t.Fatal(err)
	}
	out := verify()
	if systemdVersion(t, analyze) >= 254 {
		if out != "" {
			t.Errorf("systemd-analyze verify with the drop-in printed:\n%s", out)
		}
		return
	}
	for line := range strings.SplitSeq(out, "\n") {
		if line != "" && !regexp.MustCompile(`Unknown key '(RestartSteps|RestartMaxDelaySec)' in section \[Service\], ignoring\.$`).MatchString(line) {
			t.Errorf("systemd-analyze verify with the drop-in printed %q", line)
		}
	}
}

func systemdVersion(t *testing.T, analyze string) int {
	t.Helper()
	out, err := exec.Command(analyze, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("systemd-analyze --version = %q", out)
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func TestScrubTemplate(t *testing.T) {
	t.Parallel()
	in := "[general]\nnode_id = \"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"\nstate_dir = \"function_state\"\n" +
		"[user_node_capabilities]\n# num_cpus = 8\n# labels =\n# model_name_cpu = \"Cortex-A72\"\n[power_info]\n# x = 1\n"
	want := "[general]\nnode_id = \"\"\nstate_dir = \"/var/lib/edgeless\"\n" +
		"[user_node_capabilities]\n# num_cpus =\n# labels =\n# model_name_cpu =\n[power_info]\n# x = 1\n"
	got, err := scrubTemplate([]byte(in))
	if err != nil || string(got) != want {
		t.Errorf("scrubTemplate = %q, %v; want %q", got, err, want)
	}
	if _, err := scrubTemplate([]byte("state_dir = \"x\"\n")); err == nil || !strings.Contains(err.Error(), "0 node_id lines") {
		t.Errorf("scrubTemplate(no node_id) = %v, want an error counting node_id lines", err)
	}
}

func TestOptions_Check(t *testing.T) {
	t.Parallel()
	good := Options{Root: ".", Out: "dist", Version: "1.0.0", Commit: "abc", Time: testTime}
	for _, tt := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"version with slash", func(o *Options) { o.Version = "feature/x" }, `version "feature/x"`},
		{"version not a number", func(o *Options) { o.Version = "dev" }, "start with a digit"},
		{"no commit", func(o *Options) { o.Commit = "" }, `commit ""`},
		{"no time", func(o *Options) { o.Time = time.Time{} }, "time is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			if _, err := Build(t.Context(), o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build(%s) = %v, want %q", tt.name, err, tt.want)
			}
		})
	}
}
