package orchestrator

import (
	"log/slog"
	"time"
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
	// Logger receives the orchestrator's logs (default slog.Default()).
	Logger *slog.Logger
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
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
