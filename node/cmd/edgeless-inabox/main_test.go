package main

import (
	"bytes"
	"os"
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
