package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/template"
)

// Template renders c as a commented TOML file that Load reads back as c.
// Detected capabilities are shown as comments, so that the node keeps
// detecting them unless the operator sets them.
func Template(c *Config, detected UserNodeCapabilities) []byte {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct {
		*Config
		Detected UserNodeCapabilities
	}{c, detected}); err != nil {
		// The template is fixed and its data cannot fail to render.
		panic(fmt.Sprintf("config template: %v", err))
	}
	return b.Bytes()
}

// WriteTemplate writes Template(c, detected) to path and refuses to
// overwrite an existing file.
func WriteTemplate(path string, c *Config, detected UserNodeCapabilities) error {
	return WriteNewFile(path, Template(c, detected))
}

// WriteNewFile writes a configuration template to path and refuses to
// overwrite an existing file: the one writer of both binaries' templates.
func WriteNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cannot overwrite configuration file %s", path)
	}
	if err != nil {
		return fmt.Errorf("write template: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write template %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write template %s: %w", path, err)
	}
	return nil
}

// quote renders s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func value(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case *string:
		return quote(*x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64) + floatSuffix(x)
	case *float32:
		return strconv.FormatFloat(float64(*x), 'f', -1, 32) + floatSuffix(float64(*x))
	case *uint32:
		return strconv.FormatUint(uint64(*x), 10)
	case *bool:
		return strconv.FormatBool(*x)
	default:
		return fmt.Sprint(v)
	}
}

// floatSuffix keeps whole numbers TOML floats ("1.0", not "1").
func floatSuffix(f float64) string {
	if f == float64(int64(f)) {
		return ".0"
	}
	return ""
}

// setOrDetected renders an optional capability: "key = v" when set,
// "# key = detected" when only detected, and otherwise "# key = <zero
// value of its type>", so that every commented line parses once
// uncommented.
func setOrDetected(key string, set, detected any) string {
	if !isNil(set) {
		return key + " = " + value(set)
	}
	if !isNil(detected) {
		return "# " + key + " = " + value(detected)
	}
	return "# " + key + " = " + zero(set)
}

// zero renders the zero value of an optional capability's type.
func zero(v any) string {
	switch v.(type) {
	case *string:
		return `""`
	case *float32:
		return "0.0"
	case *bool:
		return "false"
	case []string:
		return "[]"
	default:
		return "0"
	}
}

func isNil(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case *string:
		return x == nil
	case *float32:
		return x == nil
	case *uint32:
		return x == nil
	case *bool:
		return x == nil
	case []string:
		return x == nil
	}
	return false
}

var tmpl = template.Must(template.New("node.toml").Funcs(template.FuncMap{
	"v": value, "opt": setOrDetected,
}).Parse(`# Configuration of edgeless-node, a node of an EDGELESS domain that runs
# functions as Docker containers. Keys and sections follow upstream's
# edgeless_node_d. A key left out takes the value written here, except
# general.node_id (made once and kept in state_dir/node-id when left out)
# and container_runtime.enabled, which is false when left out (as upstream).
# Every key can also be set by an environment variable, EDGELESS_<SECTION>_<KEY>
# (e.g. EDGELESS_GENERAL_NODE_REGISTER_URL), or by upstream's image's names.

[general]
# Identity of this node (a UUID). Keep it across restarts. Empty (or left
# out): made on the first start and kept in state_dir/node-id.
node_id = {{v .General.NodeID}}
# Agent API (FunctionInstance, NodeManagement, ResourceConfiguration, and the
# admin API under /admin/v1/): where it listens (an IP address; port 0 picks
# a free port) and the URL sent to the orchestrator. An empty announced URL
# is derived: the bound IP, or the first non-loopback IPv4 of this host when
# bound to 0.0.0.0.
agent_url = {{v .General.AgentURL}}
agent_url_announced = {{v .General.AgentURLAnnounced}}
# Data plane (FunctionInvocation), where other nodes send events.
invocation_url = {{v .General.InvocationURL}}
invocation_url_announced = {{v .General.InvocationURLAnnounced}}
# The orchestrator's NodeRegistration server. Empty: do not register.
node_register_url = {{v .General.NodeRegisterURL}}
# Seconds between two UpdateNode registrations; the node tells the
# orchestrator to drop it after twice this time without one.
subscription_refresh_interval_sec = {{v .General.SubscriptionRefreshIntervalSec}}
# Directory of the functions' NodeLocal state, one file per state id.
state_dir = {{v .General.StateDir}}

[telemetry]
# Prometheus metrics (path /metrics). Empty disables the endpoint.
metrics_url = {{v .Telemetry.MetricsURL}}
# Send timing samples and function log entries to the orchestrator.
performance_samples = {{v .Telemetry.PerformanceSamples}}
# Go's CPU, heap and goroutine profiles under /debug/pprof/ on metrics_url
# (needs metrics_url). Off by default: profiles show the node's internals.
pprof = {{v .Telemetry.Pprof}}

[wasm_runtime]
# Run functions of type "RUST_WASM" (upstream's WASM ABI; the workflow's code
# names a .wasm file, whose bytes the orchestrator sends) in-process.
enabled = {{v .WasmRuntime.Enabled}}
# Not in upstream's config: the memory cap of each instance (MiB), the time
# allowed for instantiation plus init, and for each cast or call (a guest
# still running then is stopped and the instance ends).
max_memory_mib = {{v .WasmRuntime.MaxMemoryMiB}}
init_timeout_sec = {{v .WasmRuntime.InitTimeoutSec}}
call_timeout_sec = {{v .WasmRuntime.CallTimeoutSec}}
# A directory where compiled modules are kept across restarts; empty: memory only.
cache_dir = {{v .WasmRuntime.CacheDir}}

[container_runtime]
# Run functions of type "CONTAINER" (code "container:<image>") as Docker
# containers. The image must be present locally: it is never pulled.
enabled = {{v .ContainerRuntime.Enabled}}
# Where the GuestAPIHost server listens, and the URL containers are told to
# call. Host 0.0.0.0 (or empty) binds and announces the gateway of the
# network below (e.g. 172.18.0.1); 127.0.0.1 cannot be reached from
# containers.
# Port 0 picks a free port.
guest_api_host_url = {{v .ContainerRuntime.GuestAPIHostURL}}
# The Docker network containers join, shared by the nodes of this host;
# created if missing, with inter-container traffic disabled
# (enable_icc=false), so that a function reaches only its node. An existing
# network that lets containers reach each other is refused.
network = {{v .ContainerRuntime.Network}}
# Seconds from container start until Boot is answered.
boot_timeout_sec = {{v .ContainerRuntime.BootTimeoutSec}}
# Seconds for the Init call.
init_timeout_sec = {{v .ContainerRuntime.InitTimeoutSec}}
# Seconds for each Cast or Call forwarded to a container.
call_timeout_sec = {{v .ContainerRuntime.CallTimeoutSec}}
# Seconds for the Stop call to a container.
stop_timeout_sec = {{v .ContainerRuntime.StopTimeoutSec}}
# Seconds between SIGTERM and SIGKILL when a container is stopped (at most
# 0.25 s once the function answered the Stop call: its clean-up is done).
stop_grace_sec = {{v .ContainerRuntime.StopGraceSec}}
# Limits of every container unless the function's annotations
# container.memory, container.cpus, container.pids override them; "" or 0
# is the runtime's default (256MiB, 1 CPU, 256 processes): a container is
# never unlimited.
# Memory in bytes or with a unit ("256MiB", "1GiB").
default_memory = {{v .ContainerRuntime.DefaultMemory}}
# CPUs (0.01 or more, e.g. 0.5).
default_cpus = {{v .ContainerRuntime.DefaultCPUs}}
# Processes and threads.
default_pids = {{v .ContainerRuntime.DefaultPids}}
# The most a function's annotations may ask for; a start asking for more is
# refused with an error naming the limit. "" or 0 is the runtime's maximum
# (2GiB, 4 CPUs, 4096 processes).
max_memory = {{v .ContainerRuntime.MaxMemory}}
max_cpus = {{v .ContainerRuntime.MaxCPUs}}
max_pids = {{v .ContainerRuntime.MaxPids}}
# Linux capabilities containers keep (e.g. ["NET_BIND_SERVICE"]); every
# other one is dropped.
cap_add = {{v .ContainerRuntime.CapAdd}}
# A read-only root filesystem with a tmpfs /tmp of tmp_size; a function's
# annotation container.read-only = "false" turns it off for that function.
read_only_root = {{v .ContainerRuntime.ReadOnlyRoot}}
tmp_size = {{v .ContainerRuntime.TmpSize}}
# A container's output log (json-file) is rotated at log_max_size, and
# log_max_files files are kept.
log_max_size = {{v .ContainerRuntime.LogMaxSize}}
log_max_files = {{v .ContainerRuntime.LogMaxFiles}}
# Not in upstream's config: the prewarm pool. Containers are created and
# started ahead, unbooted, and a Start of the same image with the same limits
# takes one (a "pool hit": no create step, the cold start is Boot and Init);
# each serves one instance and is removed after it, and the pool refills in
# the background once no Start is in progress. Kept warm: prewarm_images
# (with the default limits; e.g. ["my-fn:1.0"]) and the last prewarm_history
# distinct images (with their limits) started on this node, prewarm_size
# containers each, at most prewarm_max_containers in all and whose memory
# limits add up to at most prewarm_max_memory (operator images first, then
# the most recent). Pooled containers are labelled like the node's others
# (and edgeless.pool) and removed when the node stops or restarts.
prewarm = {{v .ContainerRuntime.Prewarm}}
prewarm_images = {{v .ContainerRuntime.PrewarmImages}}
prewarm_size = {{v .ContainerRuntime.PrewarmSize}}
prewarm_history = {{v .ContainerRuntime.PrewarmHistory}}
prewarm_max_containers = {{v .ContainerRuntime.PrewarmMaxContainers}}
prewarm_max_memory = {{v .ContainerRuntime.PrewarmMaxMemory}}
# Not in upstream's config: guest sockets. With "auto", each container gets a
# directory of two Unix sockets of the node, mounted read-only at
# /run/edgeless-guest, and a function built with the Go SDK takes and sends
# its events over them instead of the Docker network (faster; the node knows
# the caller by its socket); other functions keep TCP. "auto" is off when the
# Docker engine is not on a local unix:// socket or does not share the node's
# files (a node in a container: set guest_socket_dir to a directory mounted at
# the same path in the node's container and on the engine's host). "off":
# TCP only. guest_socket_dir: where the directories go (default: the temp dir).
guest_sockets = {{v .ContainerRuntime.GuestSockets}}
guest_socket_dir = {{v .ContainerRuntime.GuestSocketDir}}

[dataplane]
# Seconds a call waits for its reply before it fails.
call_timeout_sec = {{v .Dataplane.CallTimeoutSec}}
# Events queued per instance before senders wait.
queue_size = {{v .Dataplane.QueueSize}}
# Milliseconds of work an instance's cast queue may hold: a cast is refused
# (RESOURCE_EXHAUSTED, counted in dataplane_casts_shed_total) when the casts
# ahead of it (queued and in delivery) would likely take longer to deliver,
# at a cautious cost per cast measured from the instance's recent service
# times and queue waits. Bounds the wait in the queue under overload
# (dataplane_cast_queue_wait_seconds); 0: off.
max_queue_delay_ms = {{v .Dataplane.MaxQueueDelayMS}}
# Milliseconds a cast that max_queue_delay_ms would refuse waits instead, first
# come first served per instance, until the queue admits it (push-back: the
# sender's RPC takes longer instead of failing); after that it is refused.
# Waits are in dataplane_cast_admission_wait_seconds. 0: refuse at once. Keep
# it well below 500 when upstream nodes are peers: they give Handle 500 ms.
max_admission_wait_ms = {{v .Dataplane.MaxAdmissionWaitMS}}
# Largest message carrying an event, on every hop (peers, functions); larger
# ones are refused with RESOURCE_EXHAUSTED. Functions built with the Go SDK
# need the same limit (guest.Options.MaxPayloadBytes, default 16 MiB).
max_payload_bytes = {{v .Dataplane.MaxPayloadBytes}}

[security]
# A tls_config.toml in upstream's format ([server] server_cert_path,
# server_key_path, server_ca_path; [client] client_cert_path, client_key_path,
# client_ca_path, domain_name): with it every server of the node (agent, data
# plane, metrics) serves TLS, requiring client certificates when
# server_ca_path is set, and every client (registration, peers) presents its
# certificate and checks the server's. "" means tls_config.toml in the
# working directory if it exists (as upstream), else plain text. The guest
# API to the node's containers stays plain text. Make a test domain's files
# with "edgeless certs".
tls_config = {{v .Security.TLSConfig}}
# Bearer token the admin JSON APIs (/admin/v1/) require when set, for setups
# that terminate TLS in front of the node. "" means none.
admin_token = {{v .Security.AdminToken}}

[resources]
# Resource providers, announced to the orchestrator as upstream's node
# announces them. An empty name means no provider. Upstream's other
# provider keys (redis_provider, ...) are accepted and ignored.
# Provider ids become "<hostname>-<name>" when true.
prepend_hostname = {{v .Resources.PrependHostname}}
# http-ingress: one HTTP listener (an IP literal) for every http-ingress
# instance; anyone who reaches it can call the workflows that claim it.
http_ingress_url = {{v .Resources.HTTPIngressURL}}
http_ingress_provider = {{v .Resources.HTTPIngressProvider}}
# Largest request body (its event is up to 4x larger: upstream peers take
# 4 MiB), and seconds to wait for the function (then 504).
http_ingress_max_body = {{v .Resources.HTTPIngressMaxBody}}
http_ingress_timeout_sec = {{v .Resources.HTTPIngressTimeoutSec}}
# http-egress: functions make the node send HTTP requests. It reaches
# whatever this node can reach (the host, the local network): list the
# allowed hosts ("name" any port, "name:port") to restrict it.
http_egress_provider = {{v .Resources.HTTPEgressProvider}}
http_egress_allowed_hosts = {{v .Resources.HTTPEgressAllowedHosts}}
http_egress_timeout_sec = {{v .Resources.HTTPEgressTimeoutSec}}
http_egress_max_response = {{v .Resources.HTTPEgressMaxResponse}}
# file-log: appends events to files, only under file_log_dir.
file_log_provider = {{v .Resources.FileLogProvider}}
file_log_dir = {{v .Resources.FileLogDir}}

[user_node_capabilities]
# Capabilities announced to the orchestrator. Each key overrides the value
# the node detects at start (shown commented out). "hostname=<host>" is
# always added to labels.
{{opt "num_cpus" .UserNodeCapabilities.NumCPUs .Detected.NumCPUs}}
{{opt "model_name_cpu" .UserNodeCapabilities.ModelNameCPU .Detected.ModelNameCPU}}
{{opt "clock_freq_cpu" .UserNodeCapabilities.ClockFreqCPU .Detected.ClockFreqCPU}}
{{opt "num_cores" .UserNodeCapabilities.NumCores .Detected.NumCores}}
# MiB
{{opt "mem_size" .UserNodeCapabilities.MemSize .Detected.MemSize}}
{{opt "labels" .UserNodeCapabilities.Labels .Detected.Labels}}
{{opt "is_tee_running" .UserNodeCapabilities.IsTEERunning .Detected.IsTEERunning}}
{{opt "has_tpm" .UserNodeCapabilities.HasTPM .Detected.HasTPM}}
# MiB
{{opt "disk_tot_space" .UserNodeCapabilities.DiskTotSpace .Detected.DiskTotSpace}}
{{opt "num_gpus" .UserNodeCapabilities.NumGPUs .Detected.NumGPUs}}
{{opt "model_name_gpu" .UserNodeCapabilities.ModelNameGPU .Detected.ModelNameGPU}}
# MiB
{{opt "mem_size_gpu" .UserNodeCapabilities.MemSizeGPU .Detected.MemSizeGPU}}
`))
