package inabox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/orchestrator"
	"github.com/edgeless-go/edgeless/node/internal/state"
	toml "github.com/pelletier/go-toml/v2"
)

// Config is the in-a-box configuration.
type Config struct {
	// Orchestrator is the [orchestrator] section.
	Orchestrator Orchestrator
	// Node is the node's configuration: every other section.
	Node *config.Config
}

// Orchestrator is the [orchestrator] section.
type Orchestrator struct {
	// ControllerURL is where WorkflowInstance and the orchestrator's admin
	// API listen (upstream's controller default, port 7001).
	ControllerURL string `toml:"controller_url"`
	// NodeRegisterURL is where NodeRegistration listens (upstream's ε-ORC
	// default, port 7004). The box's node registers here; other nodes of
	// the machine may too.
	NodeRegisterURL string `toml:"node_register_url"`
	// DomainID names the domain in WorkflowInstance answers.
	DomainID string `toml:"domain_id"`
	// AgentTimeoutSec bounds Reset, UpdatePeers and Patch calls to nodes.
	AgentTimeoutSec uint64 `toml:"agent_timeout_sec"`
	// StartTimeoutSec bounds the start of one function instance.
	StartTimeoutSec uint64 `toml:"start_timeout_sec"`
	// StopTimeoutSec bounds the stop of one function instance.
	StopTimeoutSec uint64 `toml:"stop_timeout_sec"`
	// RestartBackoffMS is the wait before the first restart of a crashed
	// function instance; it doubles with each crash in a row.
	RestartBackoffMS uint64 `toml:"restart_backoff_ms"`
	// RestartBackoffMaxSec caps that wait.
	RestartBackoffMaxSec uint64 `toml:"restart_backoff_max_sec"`
	// CrashLoopLimit is how many crashes in a row a function may have
	// before it is marked failed and no longer restarted.
	CrashLoopLimit uint64 `toml:"crash_loop_limit"`
}

// Default returns a configuration that works out of the box on a machine
// with Docker: controller on 127.0.0.1:7001, NodeRegistration on
// 127.0.0.1:7004, the node's agent on 7011, data plane on 7012, metrics on
// 7013, http-ingress on 7018 and the guest API on port 7111 of the function
// network's gateway; the node sends its performance samples, so the
// orchestrator has its functions' telemetry logs. The node's ports differ
// from edgeless-node's defaults (7005-7008, 7100), so that a node written
// with `edgeless-node -t` runs beside the box and joins it (its
// node_register_url is the box's).
func Default() *Config {
	d := config.Default()
	n := nodeDefaults()
	n.General.NodeID = d.General.NodeID
	// The template's resource providers, as edgeless-node's.
	n.Resources.HTTPIngressProvider = d.Resources.HTTPIngressProvider
	n.Resources.HTTPEgressProvider = d.Resources.HTTPEgressProvider
	n.Resources.FileLogProvider = d.Resources.FileLogProvider
	return &Config{Orchestrator: defaultOrchestrator(), Node: n}
}

// nodeDefaults are the values of the node's keys that a box config leaves
// out: edgeless-node's, with the box's own ports. As for edgeless-node, no
// node id (the file must give one) and no resource provider unless the file
// names it.
func nodeDefaults() *config.Config {
	n := config.Default()
	n.General.NodeID = ""
	n.Resources.HTTPIngressProvider = ""
	n.Resources.HTTPEgressProvider = ""
	n.Resources.FileLogProvider = ""
	n.General.AgentURL = "http://127.0.0.1:7011"
	n.General.InvocationURL = "http://127.0.0.1:7012"
	n.Telemetry.MetricsURL = "http://127.0.0.1:7013"
	n.ContainerRuntime.GuestAPIHostURL = "http://0.0.0.0:7111"
	n.Resources.HTTPIngressURL = "http://127.0.0.1:7018"
	n.Telemetry.PerformanceSamples = true
	return n
}

func defaultOrchestrator() Orchestrator {
	return Orchestrator{
		ControllerURL:   "http://127.0.0.1:7001",
		NodeRegisterURL: "http://127.0.0.1:7004",
		DomainID:        "domain-1",
		AgentTimeoutSec: 10,
		StartTimeoutSec: 120,
		StopTimeoutSec:  30,

		RestartBackoffMS:     250,
		RestartBackoffMaxSec: 30,
		CrashLoopLimit:       5,
	}
}

// OrchestratorConfig returns the orchestrator package's configuration.
func (o Orchestrator) OrchestratorConfig() orchestrator.Config {
	sec := func(v uint64) time.Duration { return time.Duration(v) * time.Second }
	return orchestrator.Config{
		DomainID:     o.DomainID,
		AgentTimeout: sec(o.AgentTimeoutSec),
		StartTimeout: sec(o.StartTimeoutSec),
		StopTimeout:  sec(o.StopTimeoutSec),

		RestartBackoff:    time.Duration(o.RestartBackoffMS) * time.Millisecond,
		RestartBackoffMax: sec(o.RestartBackoffMaxSec),
		CrashLoopLimit:    int(min(o.CrashLoopLimit, 1000)),
	}
}

// Validate checks the [orchestrator] section.
func (o Orchestrator) Validate() error {
	var errs []error
	for _, u := range []struct{ key, v string }{
		{"orchestrator.controller_url", o.ControllerURL},
		{"orchestrator.node_register_url", o.NodeRegisterURL},
	} {
		if _, err := hostPort(u.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.key, err))
		}
	}
	if o.DomainID == "" {
		errs = append(errs, errors.New("orchestrator.domain_id: empty"))
	}
	for _, t := range []struct {
		key string
		v   uint64
	}{
		{"orchestrator.agent_timeout_sec", o.AgentTimeoutSec},
		{"orchestrator.start_timeout_sec", o.StartTimeoutSec},
		{"orchestrator.stop_timeout_sec", o.StopTimeoutSec},
		{"orchestrator.restart_backoff_ms", o.RestartBackoffMS},
		{"orchestrator.restart_backoff_max_sec", o.RestartBackoffMaxSec},
		{"orchestrator.crash_loop_limit", o.CrashLoopLimit},
	} {
		if t.v == 0 {
			errs = append(errs, fmt.Errorf("%s: want at least 1", t.key))
		}
	}
	return errors.Join(errs...)
}

// hostPort returns the host:port to listen on for an http:// or https://
// URL (the TLS config decides whether the server serves TLS).
func hostPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("want a URL like http://127.0.0.1:7001, got %q", raw)
	}
	return u.Host, nil
}

// sectionHeader matches a TOML table or array-of-tables header line.
var sectionHeader = regexp.MustCompile(`^\s*\[\[?\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]?\s*(#.*)?$`)

// split separates the [orchestrator] table from the node's sections. Both
// documents keep every line in place (the other part's lines are blank), so
// that errors point at the line of the file.
func split(data []byte) (orc, node []byte) {
	var o, n bytes.Buffer
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := sectionHeader.FindStringSubmatch(line); m != nil {
			name := strings.Trim(m[1], `" `)
			in = name == "orchestrator" || strings.HasPrefix(name, "orchestrator.")
		}
		mine, other := &n, &o
		if in {
			mine, other = &o, &n
		}
		mine.WriteString(line + "\n")
		other.WriteString("\n")
	}
	return o.Bytes(), n.Bytes()
}

// Load reads an in-a-box configuration file: the [orchestrator] section
// (keys left out take their defaults) and the node's sections, read by the
// node's own strict loader. Errors name the file, the line and the key.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// DefaultConfigFile is the configuration file read when none is named.
const DefaultConfigFile = "inabox.toml"

// LoadOrDefault reads path; when path is empty, it reads inabox.toml if that
// file exists and else returns Default() with usedDefaults true, and with
// the node id kept in the state directory (state.LoadOrCreateNodeID).
func LoadOrDefault(path string) (cfg *Config, usedDefaults bool, err error) {
	if path != "" {
		cfg, err := Load(path)
		return cfg, false, err
	}
	cfg, err = Load(DefaultConfigFile)
	if errors.Is(err, fs.ErrNotExist) {
		// Keep the node id across restarts, so that a restart after a
		// crash removes the containers the crashed run left.
		cfg = Default()
		g := &cfg.Node.General
		if g.NodeID, _, err = state.LoadOrCreateNodeID(g.StateDir); err != nil {
			return nil, false, err
		}
		return cfg, true, nil
	}
	return cfg, false, err
}

// Parse decodes an in-a-box configuration; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	orcText, nodeText := split(data)
	c := &Config{Orchestrator: defaultOrchestrator()}
	var doc struct {
		Orchestrator *Orchestrator `toml:"orchestrator"`
	}
	doc.Orchestrator = &c.Orchestrator
	dec := toml.NewDecoder(bytes.NewReader(orcText))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			e := &strict.Errors[0]
			row, _ := e.Position()
			return nil, fmt.Errorf("%s:%d: %s: unknown key", name, row, strings.Join(e.Key(), "."))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, fmt.Errorf("%s:%d: %s", name, row, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := c.Orchestrator.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	node, err := config.ParseOnto(name, nodeText, nodeDefaults())
	if err != nil {
		return nil, err
	}
	c.Node = node
	return c, nil
}

// Template renders c as a commented TOML file that Load reads back.
func Template(c *Config, detected config.UserNodeCapabilities) []byte {
	o := c.Orchestrator
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Configuration of edgeless-inabox: an EDGELESS orchestrator and a node with
# the container runtime, in one process. The [orchestrator] section is the
# box's own; every other section configures the node exactly as
# edgeless-node's node.toml does, except that the box's node has ports of its
# own (agent 7011, data plane 7012, metrics 7013, http-ingress 7018, guest
# API 7111), so that a
# node written with edgeless-node -t runs beside it. In a box the node always
# registers with the box's orchestrator, whatever general.node_register_url
# says.

[orchestrator]
# WorkflowInstance (what edgeless and upstream's edgeless_cli talk to) and
# the orchestrator's admin API.
controller_url = %q
# NodeRegistration: the box's node registers here; other nodes may too.
node_register_url = %q
# Name of the domain in WorkflowInstance answers.
domain_id = %q
# Deadlines of the orchestrator's calls to nodes, in seconds: Reset,
# UpdatePeers and Patch; the start of one function instance (our node answers
# once the container is booted and initialized); the stop of one.
agent_timeout_sec = %d
start_timeout_sec = %d
stop_timeout_sec = %d
# A function instance that crashes (its container exits or is killed) is
# replaced after restart_backoff_ms, doubled for each crash in a row up to
# restart_backoff_max_sec; after crash_loop_limit crashes in a row it is
# marked failed. A workflow opts out with the annotation
# "restart_policy": "never".
restart_backoff_ms = %d
restart_backoff_max_sec = %d
crash_loop_limit = %d

`, o.ControllerURL, o.NodeRegisterURL, o.DomainID, o.AgentTimeoutSec, o.StartTimeoutSec, o.StopTimeoutSec,
		o.RestartBackoffMS, o.RestartBackoffMaxSec, o.CrashLoopLimit)
	b.Write(config.Template(c.Node, detected))
	return b.Bytes()
}

// WriteTemplate writes Template(c, detected) to path and refuses to
// overwrite an existing file.
func WriteTemplate(path string, c *Config, detected config.UserNodeCapabilities) error {
	return config.WriteNewFile(path, Template(c, detected))
}
