package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func ptr[T any](v T) *T { return &v }

func TestTemplate_RoundTrip(t *testing.T) {
	t.Parallel()
	detected := UserNodeCapabilities{NumCPUs: ptr(uint32(4)), ModelNameCPU: ptr(`Intel "Xeon"`), ClockFreqCPU: ptr(float32(2400)), Labels: []string{"hostname=h"}}
	for _, tt := range []struct {
		name string
		cfg  func() *Config
	}{
		{"default", Default},
		{"modified", func() *Config {
			c := Default()
			c.General.AgentURL = "http://[::1]:0"
			c.General.AgentURLAnnounced = "http://10.0.0.1:7005"
			c.General.NodeRegisterURL = ""
			c.General.StateDir = `C:\state "x"`
			c.Telemetry.MetricsURL = ""
			c.Telemetry.PerformanceSamples = true
			c.ContainerRuntime.DefaultMemory = "256MiB"
			c.ContainerRuntime.DefaultCPUs = 1
			c.ContainerRuntime.DefaultPids = 100
			c.UserNodeCapabilities.NumCPUs = ptr(uint32(8))
			c.UserNodeCapabilities.Labels = []string{"a=b", "gpu"}
			c.UserNodeCapabilities.ClockFreqCPU = ptr(float32(1.5))
			c.UserNodeCapabilities.HasTPM = ptr(true)
			return c
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.cfg()
			path := filepath.Join(t.TempDir(), "node.toml")
			if err := WriteTemplate(path, want, detected); err != nil {
				t.Fatalf("WriteTemplate: %v", err)
			}
			got, err := Load(path)
			if err != nil {
				data, _ := os.ReadFile(path)
				t.Fatalf("Load(template) = %v\n%s", err, data)
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Config{})); diff != "" {
				t.Errorf("Load(Template(c)) differs from c (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTemplate_ShowsDetectedAsComments(t *testing.T) {
	t.Parallel()
	out := string(Template(Default(), UserNodeCapabilities{NumCPUs: ptr(uint32(4))}))
	if !strings.Contains(out, "\n# num_cpus = 4\n") {
		t.Errorf("Template() lacks the commented detected value %q:\n%s", "# num_cpus = 4", out)
	}
}

func TestWriteTemplate_RefusesOverwrite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteTemplate(path, Default(), UserNodeCapabilities{})
	if err == nil || !strings.Contains(err.Error(), "cannot overwrite configuration file") {
		t.Errorf("WriteTemplate(existing) = %v, want cannot overwrite", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "keep" {
		t.Errorf("file content = %q, want it untouched", data)
	}
}

// upstreamTemplate is what upstream edgeless_node_d --template writes (with
// the WASM runtime disabled): it must load unchanged.
const upstreamTemplate = `[general]
node_id = "96f2bac7-88c0-4681-b7bb-0717e9534093"
agent_url = "http://127.0.0.1:7005"
agent_url_announced = "http://127.0.0.1:7005"
invocation_url = "http://127.0.0.1:7006"
invocation_url_announced = "http://127.0.0.1:7006"
node_register_url = "http://127.0.0.1:7004"
subscription_refresh_interval_sec = 2
[telemetry]
metrics_url = "http://127.0.0.1:7007"
performance_samples = false
[wasm_runtime]
enabled = false
[container_runtime]
enabled = true
guest_api_host_url = "http://10.1.1.1:7100"
[resources]
prepend_hostname = true
http_ingress_url = "http://127.0.0.1:7008"
http_ingress_provider = "http-ingress-1"
http_egress_provider = "http-egress-1"
http_poster_provider = "http-poster-1"
file_log_provider = "file-log-1"
redis_provider = "redis-1"
dda_provider = "dda-1"
kafka_egress_provider = ""
sqlx_provider = "sqlx-1"
[resources.file_pusher_provider]
directory = ""
provider = ""
[resources.ollama_provider]
host = "localhost"
port = 11434
messages_number_limit = 30
provider = ""
[[resources.serverless_provider]]
class_type = ""
version = ""
function_url = ""
provider = ""
[user_node_capabilities]
num_cpus = 11
model_name_cpu = "Apple M3 Pro"
clock_freq_cpu = 4056.0
num_cores = 11
mem_size = 36864
labels = ["hostname=myhost"]
is_tee_running = false
has_tpm = false
disk_tot_space = 948000
num_gpus = 0
model_name_gpu = ""
mem_size_gpu = 0
`

func TestParse_UpstreamTemplate(t *testing.T) {
	t.Parallel()
	c, err := Parse("node.toml", []byte(upstreamTemplate))
	if err != nil {
		t.Fatalf("Parse(upstream template) = %v", err)
	}
	if got, want := c.ContainerRuntime.GuestAPIHostURL, "http://10.1.1.1:7100"; got != want {
		t.Errorf("guest_api_host_url = %q, want %q", got, want)
	}
	if got := *c.UserNodeCapabilities.NumCPUs; got != 11 {
		t.Errorf("num_cpus = %d, want 11", got)
	}
	// Defaults of our own keys apply.
	if got := c.ContainerRuntime.BootTimeoutSec; got != 30 {
		t.Errorf("boot_timeout_sec = %d, want default 30", got)
	}
	// Upstream's WASM switch is accepted, with our defaults for the rest.
	w, err := Parse("node.toml", []byte(strings.Replace(upstreamTemplate, "[wasm_runtime]\nenabled = false", "[wasm_runtime]\nenabled = true", 1)))
	if err != nil {
		t.Fatalf("Parse(upstream template, wasm enabled) = %v", err)
	}
	if !w.WasmRuntime.Enabled || w.WasmRuntime.MaxMemoryMiB != 64 || w.WasmRuntime.CallTimeoutSec != 60 {
		t.Errorf("wasm_runtime = %+v, want enabled with default limits", w.WasmRuntime)
	}
	warnings := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(warnings, "line 24: resources.redis_provider: this node offers only http-ingress, http-egress and file-log") {
		t.Errorf("Warnings() = %s\nwant a warning naming resources.redis_provider and its line", warnings)
	}
	if strings.Contains(warnings, "http_ingress") || strings.Contains(warnings, "file_log") {
		t.Errorf("Warnings() = %s\nwant none for the providers this node offers", warnings)
	}
	if strings.Contains(warnings, "max_admission_wait_ms") {
		t.Errorf("Warnings() = %s\nwant none for the default max_admission_wait_ms", warnings)
	}
	long := *c
	long.Dataplane.MaxAdmissionWaitMS = 450
	if w := strings.Join(long.Warnings(), "\n"); !strings.Contains(w, "dataplane.max_admission_wait_ms: 450 ms: upstream's nodes give a Handle 500 ms") {
		t.Errorf("Warnings() with max_admission_wait_ms = 450: %s\nwant a warning about upstream's Handle timeout", w)
	}
	if r := c.Resources; r.HTTPIngressProvider != "http-ingress-1" || r.FileLogDir != "file_log" {
		t.Errorf("resources = %+v, want upstream's providers and the default file_log_dir", r)
	}
}

func TestParse_Minimal(t *testing.T) {
	t.Parallel()
	c, err := Parse("node.toml", []byte("[general]\nnode_id = \"96f2bac7-88c0-4681-b7bb-0717e9534093\"\n"))
	if err != nil {
		t.Fatalf("Parse(minimal) = %v", err)
	}
	want := base()
	want.General.NodeID = "96f2bac7-88c0-4681-b7bb-0717e9534093"
	if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("Parse(minimal) (-want +got):\n%s", diff)
	}
}

func TestParse_NodeIDCanonical(t *testing.T) {
	t.Parallel()
	// macOS uuidgen prints upper case; the node must use one spelling on
	// the wire (registration, Start answers, data plane).
	for _, in := range []string{"96F2BAC7-88C0-4681-B7BB-0717E9534093", "{96f2bac7-88c0-4681-b7bb-0717e9534093}", "urn:uuid:96f2bac7-88c0-4681-b7bb-0717e9534093"} {
		c, err := Parse("node.toml", []byte("[general]\nnode_id = \""+in+"\"\n"))
		if err != nil {
			t.Fatalf("Parse(node_id %q) = %v", in, err)
		}
		if got, want := c.General.NodeID, "96f2bac7-88c0-4681-b7bb-0717e9534093"; got != want {
			t.Errorf("Parse(node_id %q).General.NodeID = %q, want %q", in, got, want)
		}
	}
}

func TestParse_Errors(t *testing.T) {
	t.Parallel()
	const id = "node_id = \"96f2bac7-88c0-4681-b7bb-0717e9534093\"\n"
	for _, tt := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "[general]\n" + id + "agnet_url = \"http://127.0.0.1:1\"\n",
			[]string{"node.toml:3: general.agnet_url: unknown key"}},
		{"unknown section", "[general]\n" + id + "[genral]\nx = 1\n",
			[]string{"node.toml:3: genral: unknown section"}},
		{"two unknown keys", "[general]\n" + id + "a = 1\n[telemetry]\nb = 2\n",
			[]string{"node.toml:3: general.a: unknown key", "node.toml:5: telemetry.b: unknown key"}},
		{"wrong type", "[general]\n" + id + "subscription_refresh_interval_sec = \"two\"\n",
			[]string{"node.toml:3: general.subscription_refresh_interval_sec: want a non-negative integer, got a TOML string"}},
		{"negative", "[general]\n" + id + "subscription_refresh_interval_sec = -1\n",
			[]string{"node.toml:3: general.subscription_refresh_interval_sec:", "-1"}},
		{"syntax", "[general\n", []string{"node.toml:1:"}},
		{"missing node id", "[general]\nagent_url = \"http://127.0.0.1:7005\"\n",
			[]string{"general.node_id: required"}},
		{"bad node id", "[general]\nnode_id = \"node-1\"\n",
			[]string{"node.toml:2: general.node_id: want a UUID, got \"node-1\""}},
		{"hostname", "[general]\n" + id + "agent_url = \"http://localhost:7005\"\n",
			[]string{"node.toml:3: general.agent_url: host must be an IP address", `"localhost"`}},
		{"no port", "[general]\n" + id + "invocation_url = \"http://127.0.0.1\"\n",
			[]string{"node.toml:3: general.invocation_url: missing port"}},
		{"guest https", "[general]\n" + id + "[container_runtime]\nenabled = true\nguest_api_host_url = \"https://0.0.0.0:7100\"\n",
			[]string{"node.toml:5: container_runtime.guest_api_host_url: the guest API stays plain text"}},
		{"guest sockets", "[general]\n" + id + "[container_runtime]\nenabled = true\nguest_sockets = \"on\"\n",
			[]string{"node.toml:5: container_runtime.guest_sockets: want \"auto\" or \"off\", got \"on\""}},
		{"guest socket dir", "[general]\n" + id + "[container_runtime]\nenabled = true\nguest_socket_dir = \"run/sockets\"\n",
			[]string{"node.toml:5: container_runtime.guest_socket_dir: want an absolute path"}},
		{"ingress https", "[general]\n" + id + "[resources]\nhttp_ingress_provider = \"i\"\nhttp_ingress_url = \"https://127.0.0.1:7035\"\n",
			[]string{"node.toml:5: resources.http_ingress_url: the http-ingress serves plain HTTP"}},
		{"short admin token", "[general]\n" + id + "[security]\nadmin_token = \"secret\"\n",
			[]string{"node.toml:4: security.admin_token: want at least 16 characters"}},
		{"announce unspecified", "[general]\n" + id + "agent_url_announced = \"http://0.0.0.0:7005\"\n",
			[]string{"node.toml:3: general.agent_url_announced: 0.0.0.0 cannot be dialed"}},
		{"interval zero", "[general]\n" + id + "subscription_refresh_interval_sec = 0\n",
			[]string{"node.toml:3: general.subscription_refresh_interval_sec: want 1 to 3600 seconds, got 0"}},
		{"coap", "[general]\n" + id + "invocation_url_coap = \"coap://127.0.0.1:7050\"\n",
			[]string{"node.toml:3: general.invocation_url_coap: CoAP is not supported"}},
		{"wasm memory zero", "[general]\n" + id + "[wasm_runtime]\nenabled = true\nmax_memory_mib = 0\n",
			[]string{"node.toml:5: wasm_runtime.max_memory_mib: want 1 to 4096 MiB, got 0"}},
		{"wasm timeout", "[general]\n" + id + "[wasm_runtime]\ncall_timeout_sec = 0\n",
			[]string{"node.toml:4: wasm_runtime.call_timeout_sec: want 1 to 86400 seconds, got 0"}},
		{"guest loopback", "[general]\n" + id + "[container_runtime]\nenabled = true\nguest_api_host_url = \"http://127.0.0.1:7100\"\n",
			[]string{"node.toml:5: container_runtime.guest_api_host_url: containers cannot reach 127.0.0.1"}},
		{"guest hostname", "[general]\n" + id + "[container_runtime]\nenabled = true\nguest_api_host_url = \"http://docker:7100\"\n",
			[]string{"node.toml:5: container_runtime.guest_api_host_url: host must be an IP address"}},
		{"memory unit", "[general]\n" + id + "[container_runtime]\ndefault_memory = \"12 parsecs\"\n",
			[]string{"node.toml:4: container_runtime.default_memory: unknown unit \"parsecs\""}},
		{"memory too small", "[general]\n" + id + "[container_runtime]\ndefault_memory = \"1KiB\"\n",
			[]string{"node.toml:4: container_runtime.default_memory: Docker needs at least 6MiB"}},
		{"cpus negative", "[general]\n" + id + "[container_runtime]\ndefault_cpus = -1.0\n",
			[]string{"node.toml:4: container_runtime.default_cpus: want 0 (the runtime's default) or 0.01 to 1024, got -1"}},
		{"cpus nan", "[general]\n" + id + "[container_runtime]\ndefault_cpus = nan\n",
			[]string{"node.toml:4: container_runtime.default_cpus: want 0 (the runtime's default) or 0.01 to 1024, got NaN"}},
		{"cpus inf", "[general]\n" + id + "[container_runtime]\nmax_cpus = inf\n",
			[]string{"node.toml:4: container_runtime.max_cpus: want 0 (the runtime's default) or 0.01 to 1024, got +Inf"}},
		{"cpus below docker's minimum", "[general]\n" + id + "[container_runtime]\ndefault_cpus = 0.001\n",
			[]string{"node.toml:4: container_runtime.default_cpus: want 0 (the runtime's default) or 0.01 to 1024, got 0.001"}},
		{"default above maximum", "[general]\n" + id + "[container_runtime]\ndefault_memory = \"4GiB\"\n",
			[]string{"node.toml:4: container_runtime.default_memory: \"4GiB\" is above max_memory \"2GiB\""}},
		{"capability", "[general]\n" + id + "[container_runtime]\ncap_add = [\"NET_RAW\", \"all\"]\n",
			[]string{"container_runtime.cap_add[1]: want a capability name such as NET_BIND_SERVICE, got \"all\""}},
		{"log files", "[general]\n" + id + "[container_runtime]\nlog_max_files = -1\n",
			[]string{"node.toml:4: container_runtime.log_max_files: want 0"}},
		{"timeout zero", "[general]\n" + id + "[container_runtime]\nboot_timeout_sec = 0\n",
			[]string{"node.toml:4: container_runtime.boot_timeout_sec: want 1 to 86400 seconds, got 0"}},
		{"pprof without metrics", "[general]\n" + id + "[telemetry]\nmetrics_url = \"\"\npprof = true\n",
			[]string{"node.toml:5: telemetry.pprof: profiles are served on telemetry.metrics_url, which is empty"}},
		{"queue delay", "[general]\n" + id + "[dataplane]\nmax_queue_delay_ms = 4000000\n",
			[]string{"node.toml:4: dataplane.max_queue_delay_ms: want 0 (off) to 3600000 ms, got 4000000"}},
		{"queue", "[general]\n" + id + "[dataplane]\nqueue_size = 0\n",
			[]string{"node.toml:4: dataplane.queue_size: want 1 to"}},
		{"payload limit too small", "[general]\n" + id + "[dataplane]\nmax_payload_bytes = 100\n",
			[]string{"node.toml:4: dataplane.max_payload_bytes: want 4096 to 2147483647, got 100"}},
		{"payload limit too large", "[general]\n" + id + "[dataplane]\nmax_payload_bytes = 4294967296\n",
			[]string{"node.toml:4: dataplane.max_payload_bytes: want 4096 to 2147483647, got 4294967296"}},
		{"several values", "[general]\nnode_id = \"x\"\nagent_url = \"ftp://1.2.3.4:5\"\n",
			[]string{"node.toml:2: general.node_id:", "node.toml:3: general.agent_url: want a URL like"}},
		{"inline table", "general = { node_id = \"x\" }\n",
			[]string{"node.toml:1: general.node_id: want a UUID"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("node.toml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %q", tt.doc, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) = %q, want it to contain %q", tt.doc, err, w)
				}
			}
		})
	}
}

func TestLoad_MissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	u, err := ParseURL("http://[::1]:7005/")
	if err != nil || u.Port != 7005 || !u.Addr.IsLoopback() {
		t.Errorf("ParseURL(ipv6) = %+v, %v", u, err)
	}
	if got, want := u.String(), "http://[::1]:7005"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	u, err = ParseURL("https://10.0.0.1:7005")
	if err != nil || u.String() != "https://10.0.0.1:7005" {
		t.Errorf("ParseURL(https) = %+v (%q), %v, want https://10.0.0.1:7005", u, u.String(), err)
	}
	for _, bad := range []string{"127.0.0.1:7005", "http://127.0.0.1:99999", "ftp://127.0.0.1:1", "http://127.0.0.1:7005/x", "http://u@127.0.0.1:1", "::"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) = nil error, want one", bad)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(upstreamTemplate))
	f.Add(Template(Default(), UserNodeCapabilities{NumCPUs: ptr(uint32(2))}))
	f.Add([]byte("[general]\nnode_id = \"x\"\n[[resources.serverless_provider]]\nprovider=\"a\"\n"))
	f.Add([]byte("general = { node_id = \"96f2bac7-88c0-4681-b7bb-0717e9534093\", agent_url = 7 }"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		_ = c.Warnings()
	})
}

func TestParse_ResourceProviders(t *testing.T) {
	t.Parallel()
	const head = "[general]\nnode_id = \"96f2bac7-88c0-4681-b7bb-0717e9534093\"\n"
	c, err := Parse("node.toml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Resources; r.HTTPIngressProvider != "" || r.HTTPEgressProvider != "" || r.FileLogProvider != "" {
		t.Errorf("a file without [resources] has providers %+v, want none (as upstream)", r)
	}
	for _, tt := range []struct{ body, want string }{
		{"[resources]\nprepend_hostname = true\nhttp_ingress_provider = \"i\"\n", "node.toml: resources.http_ingress_url: empty"},
		{"[resources]\nprepend_hostname = true\nhttp_ingress_provider = \"i\"\nhttp_ingress_url = \"http://localhost:7008\"\n", "node.toml:6: resources.http_ingress_url: host must be an IP address"},
		{"[resources]\nprepend_hostname = true\nhttp_egress_max_response = \"lots\"\n", "node.toml:5: resources.http_egress_max_response"},
		{"[resources]\nprepend_hostname = true\nhttp_egress_allowed_hosts = [\"http://x/\"]\n", "resources.http_egress_allowed_hosts: \"http://x/\""},
		{"[resources]\nprepend_hostname = true\nfile_log_provider = \"f\"\nfile_log_dir = \"\"\n", "resources.file_log_dir: empty"},
	} {
		_, err := Parse("node.toml", []byte(head+tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.body, err, tt.want)
		}
	}
}

// commentedSetting matches a template line that is a setting commented out.
var commentedSetting = regexp.MustCompile(`^#\s*[a-z][a-z0-9_]*\s*=`)

// TestTemplate_EveryCommentedSettingParses uncomments each commented-out
// setting of the template, one at a time, and loads the result: an operator
// who uncomments a line gets a valid file.
func TestTemplate_EveryCommentedSettingParses(t *testing.T) {
	t.Parallel()
	all := UserNodeCapabilities{NumCPUs: ptr(uint32(4)), ModelNameCPU: ptr("cpu"), ClockFreqCPU: ptr(float32(2.5)),
		NumCores: ptr(uint32(8)), MemSize: ptr(uint32(1024)), Labels: []string{"a"}, IsTEERunning: ptr(false),
		HasTPM: ptr(true), DiskTotSpace: ptr(uint32(10)), NumGPUs: ptr(uint32(0)), ModelNameGPU: ptr(""), MemSizeGPU: ptr(uint32(0))}
	for name, detected := range map[string]UserNodeCapabilities{"nothing detected": {}, "all detected": all} {
		lines := strings.Split(string(Template(Default(), detected)), "\n")
		n := 0
		for i, line := range lines {
			if !commentedSetting.MatchString(line) {
				continue
			}
			n++
			edited := slices.Clone(lines)
			edited[i] = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			if _, err := Parse("node.toml", []byte(strings.Join(edited, "\n"))); err != nil {
				t.Errorf("%s: uncommenting line %d %q: %v", name, i+1, line, err)
			}
		}
		if n < 12 {
			t.Errorf("%s: %d commented settings in the template, want the 12 capabilities at least", name, n)
		}
	}
}
