package inabox

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/state"
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
		got.Node.General.AgentURL != "http://127.0.0.1:7011" || !got.Node.ContainerRuntime.Enabled {
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

// TestDefault_PortsApartFromEdgelessNode: a node written with
// `edgeless-node -t` listens on none of the box's ports, whether the box
// runs on its defaults or on a file that leaves the node's keys out.
func TestDefault_PortsApartFromEdgelessNode(t *testing.T) {
	t.Parallel()
	ports := func(urls ...string) map[string]bool {
		m := map[string]bool{}
		for _, u := range urls {
			p, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			m[p.Port()] = true
		}
		return m
	}
	node := config.Default()
	nodePorts := ports(node.General.AgentURL, node.General.InvocationURL, node.Telemetry.MetricsURL, node.ContainerRuntime.GuestAPIHostURL,
		node.Resources.HTTPIngressURL)
	partial, err := Parse("inabox.toml", []byte("[general]\nnode_id = \"0f7b9a52-5d8e-4a34-9d0e-1c6b8f7a2e11\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, box := range map[string]*Config{"Default()": Default(), "a file with only the node id": partial} {
		n := box.Node
		for _, u := range []string{box.Orchestrator.ControllerURL, n.General.AgentURL, n.General.InvocationURL, n.Telemetry.MetricsURL,
			n.ContainerRuntime.GuestAPIHostURL, n.Resources.HTTPIngressURL} {
			for p := range ports(u) {
				if nodePorts[p] {
					t.Errorf("%s: box URL %s uses port %s, which edgeless-node's template uses too", name, u, p)
				}
			}
		}
	}
	if node.General.NodeRegisterURL != Default().Orchestrator.NodeRegisterURL {
		t.Errorf("edgeless-node's node_register_url %s is not the box's NodeRegistration %s: the node would not join the box",
			node.General.NodeRegisterURL, Default().Orchestrator.NodeRegisterURL)
	}
}

// TestLoadOrDefault_KeepsNodeID checks that, without a config file,
// in-a-box keeps its node id in the state directory: a restart after a
// crash then has the same id, and its runtime removes the containers the
// crashed run left.
func TestLoadOrDefault_KeepsNodeID(t *testing.T) {
	t.Chdir(t.TempDir())
	first, used, err := LoadOrDefault("")
	if err != nil || !used {
		t.Fatalf("LoadOrDefault() = %v, defaults %v", err, used)
	}
	second, _, err := LoadOrDefault("")
	if err != nil {
		t.Fatalf("LoadOrDefault() again: %v", err)
	}
	id := first.Node.General.NodeID
	if second.Node.General.NodeID != id {
		t.Errorf("node id after a restart = %s, want %s", second.Node.General.NodeID, id)
	}
	p := filepath.Join(first.Node.General.StateDir, state.NodeIDFile)
	if b, err := os.ReadFile(p); err != nil || strings.TrimSpace(string(b)) != id {
		t.Errorf("%s = %q, %v; want %s", p, b, err, id)
	}
}
