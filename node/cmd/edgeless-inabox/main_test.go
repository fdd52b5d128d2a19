package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun_TemplateThenBadConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inabox.toml")
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"-t", path}, &out, &errOut); err != nil {
		t.Fatalf("-t: %v", err)
	}
	if err := run(t.Context(), []string{"--template", path}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "cannot overwrite") {
		t.Errorf("second -t = %v, want a refusal to overwrite", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "controller_url =", "controler_url =", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), []string{"-c", path}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "orchestrator.controler_url: unknown key") {
		t.Errorf("-c with a typo = %v, want the key named", err)
	}
	if err := run(t.Context(), []string{"-c", filepath.Join(t.TempDir(), "none.toml")}, &out, &errOut); err == nil {
		t.Error("-c with a missing file succeeded")
	}
	if err := run(t.Context(), []string{"extra"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("extra argument = %v", err)
	}
}

// TestMain lets the tests run this program's main as a child process
// (EDGELESS_INABOX_MAIN=1), to check its exit status.
func TestMain(m *testing.M) {
	if os.Getenv("EDGELESS_INABOX_MAIN") == "1" {
		os.Args = append([]string{"edgeless-inabox"}, strings.Fields(os.Getenv("EDGELESS_INABOX_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMain_HelpExitsZero(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EDGELESS_INABOX_MAIN=1", "EDGELESS_INABOX_ARGS=--help")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("edgeless-inabox --help = %v, want exit 0; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "-config-file") {
		t.Errorf("edgeless-inabox --help printed %q, want the flags", out)
	}
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EDGELESS_INABOX_MAIN=1", "EDGELESS_INABOX_ARGS=--no-such-flag")
	if err := cmd.Run(); err == nil {
		t.Error("edgeless-inabox --no-such-flag exited 0, want 1")
	}
}
