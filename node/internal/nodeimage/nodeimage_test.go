package nodeimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/google/uuid"
)

func TestConfig_LoadsAndKeepsNodeID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "node.toml")
	if err := os.WriteFile(path, Config(), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	env := map[string]string{"EDGELESS_GENERAL_STATE_DIR": state}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, _, err := config.LoadWithEnv(path, lookup)
	if err != nil {
		t.Fatalf("LoadWithEnv(image config) = %v", err)
	}
	if _, err := uuid.Parse(c.General.NodeID); err != nil {
		t.Errorf("node id = %q, want a made UUID", c.General.NodeID)
	}
	if !c.ContainerRuntime.Enabled || c.General.AgentURL != "http://0.0.0.0:7005" || c.Telemetry.MetricsURL != "http://0.0.0.0:7007" ||
		c.Resources.FileLogDir != StateDir+"/file_log" {
		t.Errorf("image config = %+v, want the container runtime on and servers on 0.0.0.0", c)
	}
	again, _, err := config.LoadWithEnv(path, lookup)
	if err != nil || again.General.NodeID != c.General.NodeID {
		t.Errorf("second load node id = %q, %v; want the kept %q", again.General.NodeID, err, c.General.NodeID)
	}
	if s := string(Config()); !strings.Contains(s, `state_dir = "/var/lib/edgeless"`) || !strings.Contains(s, `node_id = ""`) {
		t.Errorf("Config() lacks the image's state dir or empty node id:\n%s", s)
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	f := Files([]byte("bin"))
	if !strings.Contains(string(f["Dockerfile"]), "FROM scratch") || string(f["edgeless-node"]) != "bin" || len(f["node.toml"]) == 0 {
		t.Errorf("Files() = %q, want Dockerfile FROM scratch, the binary and node.toml", f)
	}
}
