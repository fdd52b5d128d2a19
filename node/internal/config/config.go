package config

import (
	"time"

	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/google/uuid"
)

// Config is the node's configuration, one field per TOML section.
type Config struct {
	// General holds the node's identity, its server URLs and the
	// orchestrator it registers with.
	General General `toml:"general"`
	// Telemetry configures the Prometheus endpoint and the performance
	// samples sent to the orchestrator.
	Telemetry Telemetry `toml:"telemetry"`
	// WasmRuntime configures the RUST_WASM runtime (upstream's key
	// "enabled", plus this node's limits).
	WasmRuntime WasmRuntime `toml:"wasm_runtime"`
	// ContainerRuntime configures the runtime that runs functions as Docker
	// containers.
	ContainerRuntime ContainerRuntime `toml:"container_runtime"`
	// Dataplane configures event delivery between instances.
	Dataplane Dataplane `toml:"dataplane"`
	// Resources are the node's resource providers: http-ingress, http-egress
	// and file-log as upstream configures them; upstream's other providers
	// are accepted and ignored (with a
	// warning).
	Resources Resources `toml:"resources"`
	// UserNodeCapabilities overrides the capabilities the node detects.
	UserNodeCapabilities UserNodeCapabilities `toml:"user_node_capabilities"`
	// PowerInfo is accepted for compatibility; this node reads no PDU.
	PowerInfo *PowerInfo `toml:"power_info,omitempty"`
	// Security configures TLS (upstream's tls_config.toml) and the admin
	// APIs' bearer token.
	Security Security `toml:"security"`

	// pos maps a dotted key to its line in the file it was loaded from.
	pos map[string]int
}

// General is the [general] section.
type General struct {
	// NodeID is the node's UUID.
	NodeID string `toml:"node_id"`
	// AgentURL is where the agent API (FunctionInstance, NodeManagement,
	// ResourceConfiguration and the admin API) listens.
	AgentURL string `toml:"agent_url"`
	// AgentURLAnnounced is the agent URL sent to the orchestrator; empty
	// means derived from AgentURL.
	AgentURLAnnounced string `toml:"agent_url_announced"`
	// InvocationURL is where the data plane (FunctionInvocation) listens.
	InvocationURL string `toml:"invocation_url"`
	// InvocationURLAnnounced is the data-plane URL sent to the orchestrator;
	// empty means derived from InvocationURL.
	InvocationURLAnnounced string `toml:"invocation_url_announced"`
	// InvocationURLCoap is upstream's CoAP data plane; not supported, must be
	// empty.
	InvocationURLCoap string `toml:"invocation_url_coap,omitempty"`
	// InvocationURLAnnouncedCoap is upstream's announced CoAP data plane; not
	// supported, must be empty.
	InvocationURLAnnouncedCoap string `toml:"invocation_url_announced_coap,omitempty"`
	// NodeRegisterURL is the orchestrator's NodeRegistration server; empty
	// means the node does not register (standalone).
	NodeRegisterURL string `toml:"node_register_url"`
	// SubscriptionRefreshIntervalSec is the period of UpdateNode.
	SubscriptionRefreshIntervalSec uint64 `toml:"subscription_refresh_interval_sec"`
	// StateDir holds the NodeLocal state of functions, one file per state id.
	StateDir string `toml:"state_dir"`
}

// Security is the [security] section (ours; upstream reads only its
// tls_config.toml).
type Security struct {
	// TLSConfig is the path of a tls_config.toml in upstream's format. Empty
	// means tls_config.toml in the working directory if there is one, as
	// upstream; with neither, every server and client speaks plain text
	// (with a warning). The guest API between the node and its containers
	// stays plain text either way.
	TLSConfig string `toml:"tls_config"`
	// AdminToken, when set, is the bearer token every request to the admin
	// JSON APIs (/admin/v1/) must carry, for setups that terminate TLS in
	// front of the node; mutual TLS protects them as it protects the rest.
	AdminToken string `toml:"admin_token"`
}

// Telemetry is the [telemetry] section.
type Telemetry struct {
	// MetricsURL is where the Prometheus endpoint listens; empty disables it.
	MetricsURL string `toml:"metrics_url"`
	// PerformanceSamples sends timing samples and function logs to the
	// orchestrator with each UpdateNode.
	PerformanceSamples bool `toml:"performance_samples"`
	// Pprof serves Go's profiles (net/http/pprof) under /debug/pprof/ on
	// the metrics listener; off by default, since a profile shows the
	// node's internals and costs CPU while it is taken. Not in upstream's
	// schema.
	Pprof bool `toml:"pprof"`
}

// WasmRuntime is the [wasm_runtime] section.
type WasmRuntime struct {
	// Enabled registers the runtime "RUST_WASM".
	Enabled bool `toml:"enabled"`
	// MaxMemoryMiB caps each WASM instance's linear memory.
	MaxMemoryMiB uint64 `toml:"max_memory_mib"`
	// InitTimeoutSec bounds instantiation plus the function's init.
	InitTimeoutSec uint64 `toml:"init_timeout_sec"`
	// CallTimeoutSec bounds each cast and call delivered to a WASM
	// instance; a guest still running then is stopped and the instance ends.
	CallTimeoutSec uint64 `toml:"call_timeout_sec"`
	// CacheDir, if set, keeps compiled machine code across restarts.
	CacheDir string `toml:"cache_dir"`
}

// ContainerRuntime is the [container_runtime] section.
type ContainerRuntime struct {
	// Enabled registers the runtime "CONTAINER".
	Enabled bool `toml:"enabled"`
	// GuestAPIHostURL is where the GuestAPIHost server listens and what
	// containers are told to call. An empty or 0.0.0.0 host means the
	// gateway of Network (e.g. 172.18.0.1).
	GuestAPIHostURL string `toml:"guest_api_host_url"`
	// Network is the Docker network function containers join, shared by
	// the nodes of the host: created if missing, with inter-container
	// traffic off, so that a function reaches only its node.
	Network string `toml:"network"`
	// BootTimeoutSec bounds container start to Boot answered.
	BootTimeoutSec uint64 `toml:"boot_timeout_sec"`
	// InitTimeoutSec bounds the Init call.
	InitTimeoutSec uint64 `toml:"init_timeout_sec"`
	// CallTimeoutSec bounds each Cast and Call forwarded to a container.
	CallTimeoutSec uint64 `toml:"call_timeout_sec"`
	// StopTimeoutSec bounds the Stop call to a container.
	StopTimeoutSec uint64 `toml:"stop_timeout_sec"`
	// StopGraceSec is the time between SIGTERM and SIGKILL (at most 0.25 s
	// once the function answered the Stop call).
	StopGraceSec uint64 `toml:"stop_grace_sec"`
	// DefaultMemory is the memory limit of every container, in bytes or
	// with a unit such as "256MiB" ("" is the runtime's default: a
	// container is never unlimited).
	DefaultMemory string `toml:"default_memory"`
	// DefaultCPUs is the CPU limit of every container (0 is the runtime's
	// default).
	DefaultCPUs float64 `toml:"default_cpus"`
	// DefaultPids is the process limit of every container (0 is the
	// runtime's default).
	DefaultPids int64 `toml:"default_pids"`
	// MaxMemory, MaxCPUs and MaxPids are the largest limits a function's
	// annotations may ask for ("" or 0 is the runtime's maximum); a start
	// asking for more is refused.
	MaxMemory string  `toml:"max_memory"`
	MaxCPUs   float64 `toml:"max_cpus"`
	MaxPids   int64   `toml:"max_pids"`
	// CapAdd lists the Linux capabilities containers keep; every other one
	// is dropped.
	CapAdd []string `toml:"cap_add"`
	// ReadOnlyRoot gives containers a read-only root filesystem with a
	// tmpfs /tmp (a function's annotation container.read-only = "false"
	// turns it off for that function).
	ReadOnlyRoot bool `toml:"read_only_root"`
	// TmpSize is the size of that tmpfs /tmp.
	TmpSize string `toml:"tmp_size"`
	// LogMaxSize is the size at which a container's log file is rotated,
	// and LogMaxFiles how many files are kept.
	LogMaxSize  string `toml:"log_max_size"`
	LogMaxFiles int    `toml:"log_max_files"`
	// Prewarm keeps containers created and started ahead of the Starts
	// that take them (a pool hit skips create and start): for
	// PrewarmImages and for the last PrewarmHistory distinct images (with
	// their limits) started on this node, PrewarmSize each, at most
	// PrewarmMaxContainers containers whose memory limits add up to at
	// most PrewarmMaxMemory. Not in upstream's schema.
	Prewarm              bool     `toml:"prewarm"`
	PrewarmImages        []string `toml:"prewarm_images"`
	PrewarmSize          int      `toml:"prewarm_size"`
	PrewarmHistory       int      `toml:"prewarm_history"`
	PrewarmMaxContainers int      `toml:"prewarm_max_containers"`
	PrewarmMaxMemory     string   `toml:"prewarm_max_memory"`
	// GuestSockets is "auto" (the default) or "off": with "auto", a
	// function built with the Go SDK takes and sends its events over Unix
	// sockets of the node bind-mounted into its container instead of the
	// Docker network, unless the engine is not on a local unix:// socket or
	// does not share the node's files (the node runs in a container).
	// GuestSocketDir is where the node makes their directories (default:
	// the system's temp directory). Not in upstream's schema.
	GuestSockets   string `toml:"guest_sockets"`
	GuestSocketDir string `toml:"guest_socket_dir"`
}

// Dataplane is the [dataplane] section.
type Dataplane struct {
	// CallTimeoutSec bounds how long a call waits for its reply.
	CallTimeoutSec uint64 `toml:"call_timeout_sec"`
	// QueueSize is the number of events queued per instance before senders
	// wait.
	QueueSize int `toml:"queue_size"`
	// MaxQueueDelayMS sizes each instance's cast queue in time: a cast is
	// refused with RESOURCE_EXHAUSTED (after MaxAdmissionWaitMS) when the
	// casts ahead of it (queued and in delivery) would likely take longer
	// than this to deliver; 0 turns it off. Not in upstream's schema.
	MaxQueueDelayMS uint64 `toml:"max_queue_delay_ms"`
	// MaxAdmissionWaitMS makes a cast that max_queue_delay_ms would refuse
	// wait instead, first come first served per instance, until the queue
	// admits it, at most this long; then it is refused. 0 refuses at once.
	// Not in upstream's schema.
	MaxAdmissionWaitMS uint64 `toml:"max_admission_wait_ms"`
	// MaxPayloadBytes bounds every message that carries an event, on every
	// hop: the FunctionInvocation server and peer clients, the GuestAPIHost
	// server and the clients of functions. Larger ones are refused with
	// RESOURCE_EXHAUSTED. Upstream has no limit.
	MaxPayloadBytes int `toml:"max_payload_bytes"`
}

// Resources is the [resources] section of upstream's config. The node
// offers http-ingress, http-egress and file-log (an empty provider name
// means none); upstream's other provider keys are accepted so that upstream
// configs load. The keys after SqlxProvider are this node's own.
type Resources struct {
	PrependHostname     bool                 `toml:"prepend_hostname"`
	HTTPIngressURL      string               `toml:"http_ingress_url,omitempty"`
	HTTPIngressProvider string               `toml:"http_ingress_provider,omitempty"`
	HTTPEgressProvider  string               `toml:"http_egress_provider,omitempty"`
	HTTPPosterProvider  string               `toml:"http_poster_provider,omitempty"`
	FileLogProvider     string               `toml:"file_log_provider,omitempty"`
	RedisProvider       string               `toml:"redis_provider,omitempty"`
	DDAProvider         string               `toml:"dda_provider,omitempty"`
	KafkaEgressProvider string               `toml:"kafka_egress_provider,omitempty"`
	SqlxProvider        string               `toml:"sqlx_provider,omitempty"`
	FilePusherProvider  *FilePusherProvider  `toml:"file_pusher_provider,omitempty"`
	OllamaProvider      *OllamaProvider      `toml:"ollama_provider,omitempty"`
	ServerlessProvider  []ServerlessProvider `toml:"serverless_provider,omitempty"`

	// HTTPIngressMaxBody bounds a request body at the http-ingress ("1MiB"; the
	// event carrying it is up to four times larger).
	HTTPIngressMaxBody string `toml:"http_ingress_max_body,omitempty"`
	// HTTPIngressTimeoutSec bounds the wait for a function's answer to an
	// ingress request (504 after it).
	HTTPIngressTimeoutSec uint64 `toml:"http_ingress_timeout_sec,omitempty"`
	// HTTPEgressAllowedHosts, if not empty, are the only hosts http-egress
	// may reach ("name" any port, "name:port" one port).
	HTTPEgressAllowedHosts []string `toml:"http_egress_allowed_hosts,omitempty"`
	// HTTPEgressTimeoutSec bounds one http-egress request.
	HTTPEgressTimeoutSec uint64 `toml:"http_egress_timeout_sec,omitempty"`
	// HTTPEgressMaxResponse bounds an http-egress response body ("1MiB"; the
	// reply carrying it is up to four times larger).
	HTTPEgressMaxResponse string `toml:"http_egress_max_response,omitempty"`
	// FileLogDir is the only directory file-log instances write in (their
	// filename is relative to it).
	FileLogDir string `toml:"file_log_dir,omitempty"`
}

// FilePusherProvider is upstream's [resources.file_pusher_provider].
type FilePusherProvider struct {
	Directory string `toml:"directory"`
	Provider  string `toml:"provider"`
}

// OllamaProvider is upstream's [resources.ollama_provider].
type OllamaProvider struct {
	Host                string `toml:"host"`
	Port                uint16 `toml:"port"`
	MessagesNumberLimit uint16 `toml:"messages_number_limit"`
	Provider            string `toml:"provider"`
}

// ServerlessProvider is upstream's [[resources.serverless_provider]].
type ServerlessProvider struct {
	ClassType   string `toml:"class_type"`
	Version     string `toml:"version"`
	FunctionURL string `toml:"function_url"`
	Provider    string `toml:"provider"`
}

// UserNodeCapabilities is the [user_node_capabilities] section. Each set
// field overrides the detected value; "hostname=<host>" is always added to
// Labels.
type UserNodeCapabilities struct {
	NumCPUs      *uint32  `toml:"num_cpus,omitempty"`
	ModelNameCPU *string  `toml:"model_name_cpu,omitempty"`
	ClockFreqCPU *float32 `toml:"clock_freq_cpu,omitempty"`
	NumCores     *uint32  `toml:"num_cores,omitempty"`
	MemSize      *uint32  `toml:"mem_size,omitempty"` // MiB
	Labels       []string `toml:"labels,omitempty"`
	IsTEERunning *bool    `toml:"is_tee_running,omitempty"`
	HasTPM       *bool    `toml:"has_tpm,omitempty"`
	DiskTotSpace *uint32  `toml:"disk_tot_space,omitempty"` // MiB
	NumGPUs      *uint32  `toml:"num_gpus,omitempty"`
	ModelNameGPU *string  `toml:"model_name_gpu,omitempty"`
	MemSizeGPU   *uint32  `toml:"mem_size_gpu,omitempty"` // MiB
}

// PowerInfo is upstream's [power_info] section (a PDU's Modbus endpoint).
type PowerInfo struct {
	ModbusEndpoint string `toml:"modbus_endpoint"`
	OutletNumber   uint16 `toml:"outlet_number"`
}

// Default returns a working configuration with a fresh random node id: the
// node listens on 127.0.0.1, registers with an orchestrator on
// 127.0.0.1:7004 and runs container functions, telling them to call back on
// the gateway of the function network, and WASM functions. It is what the
// template holds.
func Default() *Config {
	c := base()
	c.General.NodeID = uuid.NewString()
	c.ContainerRuntime.Enabled = true
	// Upstream's template providers; a file that names none has none.
	c.Resources.HTTPIngressURL = "http://127.0.0.1:7008"
	c.Resources.HTTPIngressProvider = "http-ingress-1"
	c.Resources.HTTPEgressProvider = "http-egress-1"
	c.Resources.FileLogProvider = "file-log-1"
	c.WasmRuntime.Enabled = true
	return c
}

// base holds the value of every key that a file leaves out. Sections that
// upstream treats as optional default to disabled, as upstream does.
func base() *Config {
	return &Config{
		General: General{
			AgentURL:                       "http://127.0.0.1:7005",
			AgentURLAnnounced:              "",
			InvocationURL:                  "http://127.0.0.1:7006",
			InvocationURLAnnounced:         "",
			NodeRegisterURL:                "http://127.0.0.1:7004",
			SubscriptionRefreshIntervalSec: 2,
			StateDir:                       "function_state",
		},
		Telemetry: Telemetry{
			MetricsURL:         "http://127.0.0.1:7007",
			PerformanceSamples: false,
		},
		WasmRuntime: WasmRuntime{
			Enabled:        false,
			MaxMemoryMiB:   64,
			InitTimeoutSec: 10,
			CallTimeoutSec: 60,
		},
		ContainerRuntime: ContainerRuntime{
			Enabled:              false,
			GuestAPIHostURL:      "http://0.0.0.0:7100",
			Network:              "edgeless",
			BootTimeoutSec:       30,
			InitTimeoutSec:       30,
			CallTimeoutSec:       60,
			StopTimeoutSec:       2,
			StopGraceSec:         2,
			DefaultMemory:        "256MiB",
			DefaultCPUs:          1,
			DefaultPids:          256,
			MaxMemory:            "2GiB",
			MaxCPUs:              4,
			MaxPids:              4096,
			CapAdd:               []string{},
			ReadOnlyRoot:         true,
			TmpSize:              "64MiB",
			LogMaxSize:           "10MiB",
			LogMaxFiles:          3,
			Prewarm:              true,
			PrewarmImages:        []string{},
			PrewarmSize:          1,
			PrewarmHistory:       4,
			PrewarmMaxContainers: 4,
			PrewarmMaxMemory:     "1GiB",
			GuestSockets:         "auto",
			GuestSocketDir:       "",
		},
		Dataplane: Dataplane{
			CallTimeoutSec:     60,
			QueueSize:          1024,
			MaxQueueDelayMS:    500,
			MaxAdmissionWaitMS: 200,
			MaxPayloadBytes:    transport.DefaultPayloadMaxBytes,
		},
		Resources: Resources{
			PrependHostname:        true,
			HTTPIngressMaxBody:     "1MiB",
			HTTPIngressTimeoutSec:  30,
			HTTPEgressTimeoutSec:   30,
			HTTPEgressAllowedHosts: []string{},
			HTTPEgressMaxResponse:  "1MiB",
			FileLogDir:             "file_log",
		},
	}
}

// RefreshInterval is the period of UpdateNode.
func (g General) RefreshInterval() time.Duration {
	return time.Duration(g.SubscriptionRefreshIntervalSec) * time.Second
}

// CallTimeout bounds how long a call waits for its reply.
func (d Dataplane) CallTimeout() time.Duration {
	return time.Duration(d.CallTimeoutSec) * time.Second
}
