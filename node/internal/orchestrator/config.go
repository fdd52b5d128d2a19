package orchestrator

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/edgeless-go/edgeless/runtime/transport"
)

// Config configures an Orchestrator. Zero values take the documented
// defaults.
type Config struct {
	// DomainID names the orchestration domain in WorkflowInstance answers
	// (default "domain-1").
	DomainID string
	// AgentTimeout bounds Reset, UpdatePeers and Patch calls to a node's
	// agent (default 10s).
	AgentTimeout time.Duration
	// StartTimeout bounds one FunctionInstance.Start; our node answers only
	// once the instance is booted and initialized (default 2m).
	StartTimeout time.Duration
	// StopTimeout bounds one FunctionInstance.Stop or NodeManagement.Reset;
	// the node stops containers gracefully (default 30s).
	StopTimeout time.Duration
	// SweepInterval is how often nodes past their refresh deadline are
	// removed (default 1s, as upstream).
	SweepInterval time.Duration
	// RestartBackoff is the wait before the first restart of a crashed
	// instance; it doubles with each crash in a row (default 250ms).
	RestartBackoff time.Duration
	// RestartBackoffMax caps that wait (default 30s).
	RestartBackoffMax time.Duration
	// CrashLoopLimit is how many crashes in a row a function may have;
	// at the next one it is marked failed and not restarted (default 5).
	CrashLoopLimit int
	// StableAfter is how long an instance must run for its crash not to
	// count as "in a row" with the previous ones (default 1m).
	StableAfter time.Duration
	// Console, when set, is served on the controller endpoint for every
	// path the controller does not serve itself (the web console's pages
	// and assets).
	Console http.Handler
	// Logger receives the orchestrator's logs (default slog.Default()).
	Logger *slog.Logger
	// TLS, when set, makes the controller and NodeRegistration servers
	// serve TLS (requiring client certificates with a server CA) and the
	// clients of nodes' agent and admin APIs dial TLS with its client
	// config; nil is plain text.
	TLS *transport.TLS
	// AdminToken, when set, is the bearer token the controller's admin JSON
	// API requires, and that the orchestrator sends to nodes' admin APIs
	// (one token per domain).
	AdminToken string
}

func (c Config) withDefaults() Config {
	if c.DomainID == "" {
		c.DomainID = "domain-1"
	}
	if c.AgentTimeout <= 0 {
		c.AgentTimeout = 10 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 2 * time.Minute
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Second
	}
	if c.RestartBackoff <= 0 {
		c.RestartBackoff = 250 * time.Millisecond
	}
	if c.RestartBackoffMax <= 0 {
		c.RestartBackoffMax = 30 * time.Second
	}
	if c.CrashLoopLimit <= 0 {
		c.CrashLoopLimit = 5
	}
	if c.StableAfter <= 0 {
		c.StableAfter = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
