package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// envOf returns a lookup function over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeConfig(t *testing.T, body string) (path, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	path = filepath.Join(dir, "node.toml")
	body = "[general]\nstate_dir = " + quote(stateDir) + "\n" + body
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

func TestLoadWithEnv_Overrides(t *testing.T) {
	t.Parallel()
	id := uuid.NewString()
	path, _ := writeConfig(t, "agent_url = \"http://127.0.0.1:7005\"\nnode_id = \""+uuid.NewString()+"\"\n[container_runtime]\nenabled = false\n")
	env := map[string]string{
		"NODE_ID":                                   id,
		"AGENT_PORT":                                "7015",
		"INVOCATION_HOST":                           "0.0.0.0",
		"EDGELESS_GENERAL_NODE_REGISTER_URL":        "http://10.0.0.1:7004",
		"CONTAINER_RUNTIME_ENABLED":                 "true",
		"EDGELESS_CONTAINER_RUNTIME_DEFAULT_MEMORY": "64MiB",
		"EDGELESS_DATAPLANE_QUEUE_SIZE":             "7",
		"NUM_CPUS":                                  "3",
		"CLOCK_FREQ_CPU":                            "", // empty: upstream's "unset"
		"LABELS":                                    `"zone=a","gpu"`,
		"TELEMETRY_METRICS_PORT":                    "0",
		"EDGELESS_TELEMETRY_PERFORMANCE_SAMPLES":    "1",
	}
	c, keys, err := LoadWithEnv(path, envOf(env))
	if err != nil {
		t.Fatalf("LoadWithEnv = %v", err)
	}
	g := c.General
	got := []any{g.NodeID, g.AgentURL, g.InvocationURL, g.NodeRegisterURL, c.ContainerRuntime.Enabled,
		c.ContainerRuntime.DefaultMemory, c.Dataplane.QueueSize, *c.UserNodeCapabilities.NumCPUs,
		c.UserNodeCapabilities.ClockFreqCPU == nil, c.UserNodeCapabilities.Labels, c.Telemetry.MetricsURL,
		c.Telemetry.PerformanceSamples}
	want := []any{id, "http://127.0.0.1:7015", "http://0.0.0.0:7006", "http://10.0.0.1:7004", true,
		"64MiB", 7, uint32(3), true, []string{"zone=a", "gpu"}, "http://127.0.0.1:0", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadWithEnv values (-want +got):\n%s", diff)
	}
	wantKeys := []string{"container_runtime.default_memory", "container_runtime.enabled", "dataplane.queue_size",
		"general.agent_url", "general.invocation_url", "general.node_id", "general.node_register_url",
		"telemetry.metrics_url", "telemetry.performance_samples", "user_node_capabilities.labels",
		"user_node_capabilities.num_cpus"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("LoadWithEnv keys (-want +got):\n%s", diff)
	}
}

func TestParseList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"a, b,c", []string{"a", "b", "c"}},
		{`"a","b c"`, []string{"a", "b c"}},
		{`["x=1", "y"]`, []string{"x=1", "y"}},
		{"single", []string{"single"}},
	} {
		got, err := parseList(tt.in)
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("parseList(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseList(`"a`); err == nil {
		t.Errorf(`parseList("\"a") = nil error, want one`)
	}
}

func TestLoadWithEnv_Errors(t *testing.T) {
	t.Parallel()
	path, _ := writeConfig(t, "node_id = \""+uuid.NewString()+"\"\n")
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad bool", map[string]string{"CONTAINER_RUNTIME_ENABLED": "maybe"},
			`environment variable CONTAINER_RUNTIME_ENABLED (container_runtime.enabled): want true or false, got "maybe"`},
		{"bad integer", map[string]string{"EDGELESS_DATAPLANE_QUEUE_SIZE": "many"},
			`environment variable EDGELESS_DATAPLANE_QUEUE_SIZE (dataplane.queue_size): want an integer, got "many"`},
		{"bad port", map[string]string{"AGENT_PORT": "70000"},
			`environment variable AGENT_PORT: want a port from 0 to 65535, got "70000"`},
		{"two names for one key", map[string]string{"NODE_ID": uuid.NewString(), "EDGELESS_GENERAL_NODE_ID": uuid.NewString()},
			"environment variables EDGELESS_GENERAL_NODE_ID, NODE_ID all set general.node_id: set only one"},
		{"url and host", map[string]string{"EDGELESS_GENERAL_AGENT_URL": "http://127.0.0.1:1", "AGENT_HOST": "0.0.0.0"},
			"environment variables AGENT_HOST, EDGELESS_GENERAL_AGENT_URL all set general.agent_url"},
		{"invalid value names the variable", map[string]string{"EDGELESS_GENERAL_AGENT_URL": "http://edge.example:7005"},
			"environment variable EDGELESS_GENERAL_AGENT_URL: general.agent_url:"},
		{"wasm memory cap", map[string]string{"EDGELESS_WASM_RUNTIME_MAX_MEMORY_MIB": "0"},
			"environment variable EDGELESS_WASM_RUNTIME_MAX_MEMORY_MIB: wasm_runtime.max_memory_mib: want 1 to 4096 MiB, got 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := LoadWithEnv(path, envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadWithEnv(%v) = %v, want %q", tt.env, err, tt.want)
			}
		})
	}
}

// Upstream's image sets WASM_RUNTIME_ENABLED=true: it enables the RUST_WASM
// runtime here too.
func TestLoadWithEnv_UpstreamWasm(t *testing.T) {
	t.Parallel()
	path, _ := writeConfig(t, "node_id = \""+uuid.NewString()+"\"\n")
	for _, v := range []string{"true", "false"} {
		c, _, err := LoadWithEnv(path, envOf(map[string]string{"WASM_RUNTIME_ENABLED": v}))
		if err != nil {
			t.Fatalf("LoadWithEnv(WASM_RUNTIME_ENABLED=%s) = %v", v, err)
		}
		if got := c.WasmRuntime.Enabled; got != (v == "true") {
			t.Errorf("WASM_RUNTIME_ENABLED=%s: wasm_runtime.enabled = %v", v, got)
		}
	}
}

func TestLoadWithEnv_FileErrorsKeepLines(t *testing.T) {
	t.Parallel()
	path, _ := writeConfig(t, "node_id = \""+uuid.NewString()+"\"\nagent_url = \"http://127.0.0.1\"\n")
	_, _, err := LoadWithEnv(path, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), path+":4: general.agent_url: missing port") {
		t.Errorf("LoadWithEnv(bad file) = %v, want the file, line and key", err)
	}
}

func TestLoadWithEnv_NodeIDKeptInStateDir(t *testing.T) {
	t.Parallel()
	path, stateDir := writeConfig(t, "")
	c1, _, err := LoadWithEnv(path, envOf(nil))
	if err != nil {
		t.Fatalf("LoadWithEnv(no node_id) = %v", err)
	}
	data, err := os.ReadFile(filepath.Join(stateDir, NodeIDFile))
	if err != nil || strings.TrimSpace(string(data)) != c1.General.NodeID {
		t.Fatalf("node id file = %q, %v; want %q", data, err, c1.General.NodeID)
	}
	c2, _, err := LoadWithEnv(path, envOf(nil))
	if err != nil || c2.General.NodeID != c1.General.NodeID {
		t.Errorf("second LoadWithEnv node id = %q, %v; want the kept %q", c2.General.NodeID, err, c1.General.NodeID)
	}

	// A node id from the environment wins and leaves the file alone.
	id := uuid.NewString()
	c3, _, err := LoadWithEnv(path, envOf(map[string]string{"NODE_ID": id}))
	if err != nil || c3.General.NodeID != id {
		t.Errorf("LoadWithEnv(NODE_ID) node id = %q, %v; want %q", c3.General.NodeID, err, id)
	}

	if err := os.WriteFile(filepath.Join(stateDir, NodeIDFile), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadWithEnv(path, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(stateDir, NodeIDFile)+`: want a UUID, got "garbage\n"`) {
		t.Errorf("LoadWithEnv(corrupt node id file) = %v, want an error naming the file", err)
	}
}

func TestLoadWithEnv_EmptyNodeIDIsKept(t *testing.T) {
	t.Parallel()
	path, stateDir := writeConfig(t, "node_id = \"\"\n")
	c, _, err := LoadWithEnv(path, envOf(nil))
	if err != nil {
		t.Fatalf("LoadWithEnv(node_id = \"\") = %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(stateDir, NodeIDFile))
	if strings.TrimSpace(string(data)) != c.General.NodeID {
		t.Errorf("node id file = %q, want %q", data, c.General.NodeID)
	}
}

func TestLoadWithEnv_NodeIDInFileWritesNoFile(t *testing.T) {
	t.Parallel()
	id := uuid.NewString()
	path, stateDir := writeConfig(t, "node_id = \""+id+"\"\n")
	c, _, err := LoadWithEnv(path, envOf(nil))
	if err != nil || c.General.NodeID != id {
		t.Fatalf("LoadWithEnv = %v, %v; want node id %q", c, err, id)
	}
	if _, err := os.Stat(filepath.Join(stateDir, NodeIDFile)); !os.IsNotExist(err) {
		t.Errorf("node id file exists (%v) although the config sets node_id", err)
	}
}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	names := EnvNames()
	for key, want := range map[string][]string{
		"general.node_id":                      {"EDGELESS_GENERAL_NODE_ID", "NODE_ID"},
		"general.agent_url":                    {"EDGELESS_GENERAL_AGENT_URL", "AGENT_HOST", "AGENT_PORT"},
		"container_runtime.guest_api_host_url": {"EDGELESS_CONTAINER_RUNTIME_GUEST_API_HOST_URL", "GUEST_API_HOST_URL"},
		"dataplane.queue_size":                 {"EDGELESS_DATAPLANE_QUEUE_SIZE"},
		"user_node_capabilities.labels":        {"EDGELESS_USER_NODE_CAPABILITIES_LABELS", "LABELS"},
	} {
		if diff := cmp.Diff(want, names[key]); diff != "" {
			t.Errorf("EnvNames()[%q] (-want +got):\n%s", key, diff)
		}
	}
	if _, ok := names["resources.file_pusher_provider"]; ok {
		t.Error("EnvNames() has the nested table resources.file_pusher_provider")
	}
}

func TestLoadWithEnv_NodeIDCanonical(t *testing.T) {
	t.Parallel()
	path, _ := writeConfig(t, "")
	id := uuid.NewString()
	c, _, err := LoadWithEnv(path, envOf(map[string]string{"NODE_ID": "{" + strings.ToUpper(id) + "}"}))
	if err != nil || c.General.NodeID != id {
		t.Errorf("LoadWithEnv(NODE_ID upper case in braces) node id = %q, %v; want %q", c.General.NodeID, err, id)
	}
}

func TestCheckEnv(t *testing.T) {
	t.Parallel()
	ok := []string{"EDGELESS_GENERAL_AGENT_URL=http://127.0.0.1:1", "EDGELESS_REQUIRE_DOCKER=1", "EDGELESS_CONTROLLER_URL=x", "PATH=/bin"}
	if err := CheckEnv(ok); err != nil {
		t.Errorf("CheckEnv(%q) = %v, want nil", ok, err)
	}
	bad := append(ok, "EDGELESS_GENERAL_AGNET_URL=http://127.0.0.1:1", "EDGELESS_CONTAINER_RUNTIME_ENABLE=true")
	err := CheckEnv(bad)
	for _, want := range []string{
		"environment variable EDGELESS_GENERAL_AGNET_URL: no such config key (the keys of [general] are set by EDGELESS_GENERAL_<KEY>)",
		"environment variable EDGELESS_CONTAINER_RUNTIME_ENABLE: no such config key (the keys of [container_runtime]",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckEnv(misspelt) = %v, want %q", err, want)
		}
	}
}
