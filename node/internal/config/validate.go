package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/container"
)

// FieldError is a bad value of one key.
type FieldError struct {
	// Key is the dotted key, e.g. "general.agent_url".
	Key string
	// Msg says what is wrong.
	Msg string
}

// Error returns "key: msg".
func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Validate checks every value, changing none; the error joins one
// FieldError per bad key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	check := func(key string, err error) {
		if err != nil {
			bad(key, "%v", err)
		}
	}

	if _, err := uuid.Parse(c.General.NodeID); err != nil {
		bad("general.node_id", "want a UUID, got %q", c.General.NodeID)
	}
	g := c.General
	check("general.agent_url", checkBind(g.AgentURL))
	check("general.agent_url_announced", checkAnnounced(g.AgentURLAnnounced))
	check("general.invocation_url", checkBind(g.InvocationURL))
	check("general.invocation_url_announced", checkAnnounced(g.InvocationURLAnnounced))
	if g.InvocationURLCoap != "" {
		bad("general.invocation_url_coap", "CoAP is not supported by this node; remove the key")
	}
	if g.InvocationURLAnnouncedCoap != "" {
		bad("general.invocation_url_announced_coap", "CoAP is not supported by this node; remove the key")
	}
	if g.NodeRegisterURL != "" {
		if _, err := ParseURL(g.NodeRegisterURL); err != nil {
			bad("general.node_register_url", "%v", err)
		}
	}
	if g.SubscriptionRefreshIntervalSec < 1 || g.SubscriptionRefreshIntervalSec > 3600 {
		bad("general.subscription_refresh_interval_sec", "want 1 to 3600 seconds, got %d", g.SubscriptionRefreshIntervalSec)
	}
	if strings.TrimSpace(g.StateDir) == "" {
		bad("general.state_dir", "must not be empty")
	}

	if c.Telemetry.MetricsURL != "" {
		check("telemetry.metrics_url", checkBind(c.Telemetry.MetricsURL))
	} else if c.Telemetry.Pprof {
		bad("telemetry.pprof", "profiles are served on telemetry.metrics_url, which is empty")
	}
	if t := c.Security.AdminToken; t != "" && (len(t) < 16 || strings.ContainsAny(t, " \t\r\n")) {
		bad("security.admin_token", "want at least 16 characters without spaces (e.g. the output of: openssl rand -hex 16), or \"\" for none")
	}
	if m := c.WasmRuntime.MaxMemoryMiB; m < 1 || m > 4096 {
		bad("wasm_runtime.max_memory_mib", "want 1 to 4096 MiB, got %d", m)
	}

	cr := c.ContainerRuntime
	if cr.Enabled {
		check("container_runtime.guest_api_host_url", checkGuestHost(cr.GuestAPIHostURL))
	}
	for _, t := range []struct {
		key string
		v   uint64
	}{
		{"container_runtime.boot_timeout_sec", cr.BootTimeoutSec},
		{"container_runtime.init_timeout_sec", cr.InitTimeoutSec},
		{"container_runtime.call_timeout_sec", cr.CallTimeoutSec},
		{"container_runtime.stop_timeout_sec", cr.StopTimeoutSec},
		{"container_runtime.stop_grace_sec", cr.StopGraceSec},
		{"dataplane.call_timeout_sec", c.Dataplane.CallTimeoutSec},
		{"wasm_runtime.init_timeout_sec", c.WasmRuntime.InitTimeoutSec},
		{"wasm_runtime.call_timeout_sec", c.WasmRuntime.CallTimeoutSec},
	} {
		if t.v < 1 || t.v > 86400 {
			bad(t.key, "want 1 to 86400 seconds, got %d", t.v)
		}
	}
	if cr.Enabled && strings.TrimSpace(cr.Network) == "" {
		bad("container_runtime.network", "must not be empty (default \"edgeless\")")
	}
	mem := func(key, v string, min int64, minText string) int64 {
		if v == "" {
			return 0
		}
		n, err := container.ParseSize(v)
		switch {
		case err != nil:
			bad(key, "%v", err)
		case n < min:
			bad(key, "%s, got %q", minText, v)
		}
		return n
	}
	cpus := func(key string, v float64) {
		// TOML has nan and inf; Docker refuses fewer than 0.01 CPUs.
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || (v > 0 && v < 0.01) || v > 1024 {
			bad(key, "want 0 (the runtime's default) or 0.01 to 1024, got %g", v)
		}
	}
	pids := func(key string, v int64) {
		if v < 0 {
			bad(key, "want 0 (the runtime's default) or more, got %d", v)
		}
	}
	defMem := mem("container_runtime.default_memory", cr.DefaultMemory, 6<<20, "Docker needs at least 6MiB")
	maxMem := mem("container_runtime.max_memory", cr.MaxMemory, 6<<20, "Docker needs at least 6MiB")
	cpus("container_runtime.default_cpus", cr.DefaultCPUs)
	cpus("container_runtime.max_cpus", cr.MaxCPUs)
	pids("container_runtime.default_pids", cr.DefaultPids)
	pids("container_runtime.max_pids", cr.MaxPids)
	if defMem > 0 && maxMem > 0 && defMem > maxMem {
		bad("container_runtime.default_memory", "%q is above max_memory %q", cr.DefaultMemory, cr.MaxMemory)
	}
	if cr.DefaultCPUs > 0 && cr.MaxCPUs > 0 && cr.DefaultCPUs > cr.MaxCPUs {
		bad("container_runtime.default_cpus", "%g is above max_cpus %g", cr.DefaultCPUs, cr.MaxCPUs)
	}
	if cr.DefaultPids > 0 && cr.MaxPids > 0 && cr.DefaultPids > cr.MaxPids {
		bad("container_runtime.default_pids", "%d is above max_pids %d", cr.DefaultPids, cr.MaxPids)
	}
	for k, cp := range cr.CapAdd {
		name := strings.TrimPrefix(cp, "CAP_")
		if name == "" || name == "ALL" || strings.TrimFunc(name, func(r rune) bool { return (r >= 'A' && r <= 'Z') || r == '_' }) != "" {
			bad(fmt.Sprintf("container_runtime.cap_add[%d]", k), "want a capability name such as NET_BIND_SERVICE, got %q", cp)
		}
	}
	mem("container_runtime.tmp_size", cr.TmpSize, 1<<20, "want at least 1MiB")
	mem("container_runtime.log_max_size", cr.LogMaxSize, 1<<10, "want at least 1KiB")
	if cr.LogMaxFiles < 0 || cr.LogMaxFiles > 100 {
		bad("container_runtime.log_max_files", "want 0 (the runtime's default) to 100, got %d", cr.LogMaxFiles)
	}
	for k, img := range cr.PrewarmImages {
		if strings.TrimSpace(strings.TrimPrefix(img, "container:")) == "" {
			bad(fmt.Sprintf("container_runtime.prewarm_images[%d]", k), "want an image name such as my-fn:1.0, got %q", img)
		}
	}
	if n := cr.PrewarmSize; n < 0 || n > 64 {
		bad("container_runtime.prewarm_size", "want 0 (the default, 1) to 64, got %d", n)
	}
	if n := cr.PrewarmHistory; n < -1 || n > 64 {
		bad("container_runtime.prewarm_history", "want -1 (none), 0 (the default, 4) to 64, got %d", n)
	}
	if n := cr.PrewarmMaxContainers; n < 0 || n > 256 {
		bad("container_runtime.prewarm_max_containers", "want 0 (the default, 4) to 256, got %d", n)
	}
	mem("container_runtime.prewarm_max_memory", cr.PrewarmMaxMemory, 6<<20, "want at least 6MiB")
	if g := cr.GuestSockets; g != "" && g != container.GuestSocketsAuto && g != container.GuestSocketsOff {
		bad("container_runtime.guest_sockets", "want %q or %q, got %q", container.GuestSocketsAuto, container.GuestSocketsOff, g)
	}
	if d := cr.GuestSocketDir; d != "" && !filepath.IsAbs(d) {
		bad("container_runtime.guest_socket_dir", "want an absolute path, got %q", d)
	} else if len(d) > 60 {
		bad("container_runtime.guest_socket_dir", "%q is too long for socket paths (at most 60 bytes)", d)
	}
	if m := c.Dataplane.MaxQueueDelayMS; m > 3600_000 {
		bad("dataplane.max_queue_delay_ms", "want 0 (off) to 3600000 ms, got %d", m)
	}
	if m := c.Dataplane.MaxAdmissionWaitMS; m > 60_000 {
		bad("dataplane.max_admission_wait_ms", "want 0 (refuse at once) to 60000 ms, got %d", m)
	}
	if q := c.Dataplane.QueueSize; q < 1 || q > 1<<20 {
		bad("dataplane.queue_size", "want 1 to %d, got %d", 1<<20, q)
	}
	if n := c.Dataplane.MaxPayloadBytes; n < minPayloadBytes || n > math.MaxInt32 {
		bad("dataplane.max_payload_bytes", "want %d to %d, got %d", minPayloadBytes, math.MaxInt32, n)
	}
	r := c.Resources
	if r.HTTPIngressProvider != "" {
		if r.HTTPIngressURL == "" {
			bad("resources.http_ingress_url", "empty, but http_ingress_provider %q is set: want the URL the ingress listens on", r.HTTPIngressProvider)
		} else if err := checkBind(r.HTTPIngressURL); err != nil {
			bad("resources.http_ingress_url", "%v", err)
		} else if strings.HasPrefix(r.HTTPIngressURL, "https:") {
			bad("resources.http_ingress_url", "the http-ingress serves plain HTTP (put a TLS-terminating proxy in front of it); use http:// (got %q)", r.HTTPIngressURL)
		}
	}
	for _, sz := range []struct{ key, v string }{
		{"resources.http_ingress_max_body", r.HTTPIngressMaxBody},
		{"resources.http_egress_max_response", r.HTTPEgressMaxResponse},
	} {
		if sz.v == "" {
			continue
		}
		if n, err := container.ParseSize(sz.v); err != nil {
			bad(sz.key, "%v", err)
		} else if n <= 0 {
			bad(sz.key, "want more than 0 bytes, got %q", sz.v)
		}
	}
	for _, h := range r.HTTPEgressAllowedHosts {
		if h == "" || strings.ContainsAny(h, "/@ ") {
			bad("resources.http_egress_allowed_hosts", "%q: want a host name or address, optionally with :port", h)
		}
	}
	if r.FileLogProvider != "" && r.FileLogDir == "" {
		bad("resources.file_log_dir", "empty, but file_log_provider %q is set: want the directory file-log writes in", r.FileLogProvider)
	}
	return errors.Join(errs...)
}

// minPayloadBytes is the smallest max_payload_bytes accepted: room for an
// event's ids and metadata.
const minPayloadBytes = 4 << 10

// upstreamHandleTimeoutMS is the time upstream's nodes give a
// FunctionInvocation.Handle before they reconnect and send the event again
// (edgeless_api's remote node link).
const upstreamHandleTimeoutMS = 500

// Warnings lists settings that are accepted but have no effect on this node,
// each naming its key (and line, for a loaded file).
func (c *Config) Warnings() []string {
	var out []string
	warn := func(key, msg string) {
		if line, ok := c.pos[key]; ok {
			out = append(out, fmt.Sprintf("line %d: %s: %s", line, key, msg))
			return
		}
		out = append(out, key+": "+msg)
	}
	const noProviders = "this node offers only http-ingress, http-egress and file-log; ignored"
	r := c.Resources
	for _, p := range []struct{ key, v string }{
		{"resources.http_poster_provider", r.HTTPPosterProvider},
		{"resources.redis_provider", r.RedisProvider},
		{"resources.dda_provider", r.DDAProvider},
		{"resources.kafka_egress_provider", r.KafkaEgressProvider},
		{"resources.sqlx_provider", r.SqlxProvider},
	} {
		if p.v != "" {
			warn(p.key, noProviders)
		}
	}
	if r.FilePusherProvider != nil && r.FilePusherProvider.Provider != "" {
		warn("resources.file_pusher_provider", noProviders)
	}
	if r.OllamaProvider != nil && r.OllamaProvider.Provider != "" {
		warn("resources.ollama_provider", noProviders)
	}
	for _, s := range r.ServerlessProvider {
		if s.Provider != "" {
			warn("resources.serverless_provider", noProviders)
			break
		}
	}
	if c.PowerInfo != nil {
		warn("power_info", "this node reads no PDU; ignored")
	}
	if c.General.NodeRegisterURL == "" {
		warn("general.node_register_url", "empty: the node does not register with an orchestrator")
	}
	if m := c.Dataplane.MaxAdmissionWaitMS; m >= upstreamHandleTimeoutMS*4/5 {
		warn("dataplane.max_admission_wait_ms", fmt.Sprintf("%d ms: upstream's nodes give a Handle %d ms and send it again when it runs out, so a cast held this long from such a peer may arrive twice; keep it below %d ms when upstream nodes are peers",
			m, upstreamHandleTimeoutMS, upstreamHandleTimeoutMS*4/5))
	}
	if !c.ContainerRuntime.Enabled && !c.WasmRuntime.Enabled {
		warn("container_runtime.enabled", "false (and wasm_runtime.enabled false): this node has no runtime and cannot start functions")
	}
	return out
}

// URL is a parsed http or https URL of a server or peer.
type URL struct {
	// Scheme is "http" or "https". With a TLS config servers serve TLS and
	// clients dial TLS whatever the scheme (as upstream: the file decides);
	// https without one is refused where the node dials.
	Scheme string
	// Host is the host as written (an IP literal, a name, or empty).
	Host string
	// Addr is the IP address of Host, or the zero Addr when Host is a name
	// or empty.
	Addr netip.Addr
	// Port is the port number.
	Port uint16
}

// ParseURL parses "http://HOST:PORT" or "https://HOST:PORT" (an optional
// trailing "/" is allowed).
// The port is required; port 0 means "any free port" where the node binds.
func ParseURL(raw string) (URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return URL{}, fmt.Errorf("want a URL like http://10.0.0.1:7005, got %q", raw)
	}
	switch u.Scheme {
	case "http", "https":
	case "coap":
		return URL{}, fmt.Errorf("CoAP is not supported by this node; use http:// (got %q)", raw)
	default:
		return URL{}, fmt.Errorf("want a URL like http://10.0.0.1:7005, got %q", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return URL{}, fmt.Errorf("want only scheme, host and port, got %q", raw)
	}
	ps := u.Port()
	if ps == "" {
		return URL{}, fmt.Errorf("missing port in %q", raw)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return URL{}, fmt.Errorf("bad port %q in %q", ps, raw)
	}
	out := URL{Scheme: u.Scheme, Host: u.Hostname(), Port: uint16(port)}
	if a, err := netip.ParseAddr(out.Host); err == nil {
		out.Addr = a.Unmap()
	}
	return out, nil
}

// String formats the URL as SCHEME://HOST:PORT (http when Scheme is
// empty).
func (u URL) String() string {
	scheme := u.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + netip.AddrPortFrom(u.Addr, u.Port).String()
}

// checkBind accepts a URL whose host is an IP literal the node can bind.
func checkBind(raw string) error {
	u, err := ParseURL(raw)
	if err != nil {
		return err
	}
	if !u.Addr.IsValid() {
		return fmt.Errorf("host must be an IP address (e.g. 0.0.0.0 or 127.0.0.1), got %q", u.Host)
	}
	return nil
}

// checkAnnounced accepts "" (derived from the bind URL) or a URL whose host
// is an IP literal that peers can dial; upstream nodes and the orchestrator
// expect IP literals.
func checkAnnounced(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := ParseURL(raw)
	if err != nil {
		return err
	}
	if !u.Addr.IsValid() {
		return fmt.Errorf("host must be an IP address, got %q", u.Host)
	}
	if u.Addr.IsUnspecified() {
		return fmt.Errorf("%s cannot be dialed; announce an address of this host, or leave it empty", u.Addr)
	}
	return nil
}

// checkGuestHost accepts an empty or unspecified host (the Docker bridge
// gateway is chosen at start) or an IP literal that containers can reach.
func checkGuestHost(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := ParseURL(raw)
	if err != nil {
		return err
	}
	if u.Scheme == "https" {
		return fmt.Errorf("the guest API stays plain text (containers speak plain-text gRPC; it never leaves this host); use http:// (got %q)", raw)
	}
	if u.Host == "" || u.Addr.IsUnspecified() {
		return nil
	}
	if !u.Addr.IsValid() {
		return fmt.Errorf("host must be an IP address (or 0.0.0.0 for the function network's gateway), got %q", u.Host)
	}
	if u.Addr.IsLoopback() {
		return fmt.Errorf("containers cannot reach %s; use 0.0.0.0 to bind the function network's gateway, or an address of this host that containers can reach", u.Addr)
	}
	return nil
}
