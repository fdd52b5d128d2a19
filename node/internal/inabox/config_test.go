package inabox

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/google/go-cmp/cmp"
)

func TestTemplate_RoundTrip(t *testing.T) {
	t.Parallel()
	want := Default()
	want.Orchestrator.DomainID = "box"
	path := filepath.Join(t.TempDir(), "inabox.toml")
	if err := WriteTemplate(path, want, config.UserNodeCapabilities{}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load(template): %v", err)
	}
	if diff := cmp.Diff(want.Orchestrator, got.Orchestrator); diff != "" {
		t.Errorf("orchestrator (-want +got):\n%s", diff)
	}
	if got.Node.General.NodeID != want.Node.General.NodeID || !got.Node.Telemetry.PerformanceSamples ||
		got.Node.General.AgentURL != "http://127.0.0.1:7005" || !got.Node.ContainerRuntime.Enabled {
		t.Errorf("node config = %+v, want the template's", got.Node)
	}
	if err := WriteTemplate(path, want, config.UserNodeCapabilities{}); err == nil || !strings.Contains(err.Error(), "cannot overwrite") {
		t.Errorf("WriteTemplate over a file = %v, want a refusal", err)
	}
}

func TestParse_Errors(t *testing.T) {
	t.Parallel()
	tmpl := string(Template(Default(), config.UserNodeCapabilities{}))
	line := func(text, key string) int {
		for i, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, key) {
				return i + 1
			}
		}
		t.Fatalf("no line %q in the template", key)
		return 0
	}
	tests := []struct {
		name, in, want string
	}{
		{"unknown orchestrator key", strings.Replace(tmpl, "domain_id =", "domain =", 1),
			"box.toml:" + strconv.Itoa(line(tmpl, "domain_id =")) + ": orchestrator.domain: unknown key"},
		{"bad controller url", strings.Replace(tmpl, `controller_url = "http://127.0.0.1:7001"`, `controller_url = "127.0.0.1:7001"`, 1),
			`orchestrator.controller_url: want a URL like http://127.0.0.1:7001, got "127.0.0.1:7001"`},
		{"bad type", strings.Replace(tmpl, "start_timeout_sec = 120", `start_timeout_sec = "2m"`, 1),
			"box.toml:" + strconv.Itoa(line(tmpl, "start_timeout_sec =")) + ":"},
		{"zero timeout", strings.Replace(tmpl, "stop_timeout_sec = 30", "stop_timeout_sec = 0", 1),
			"orchestrator.stop_timeout_sec: want at least 1"},
		{"node error keeps its line", strings.Replace(tmpl, "agent_url = ", "agent_ur = ", 1),
			"box.toml:" + strconv.Itoa(line(tmpl, "agent_url = ")) + ": general.agent_ur: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("box.toml", []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%s) = %v, want an error containing %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestLoad_Missing(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a not-exist error", err)
	}
}
