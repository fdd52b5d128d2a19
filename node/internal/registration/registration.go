// Package registration keeps the node registered with its orchestrator:
// UpdateNode on node_register_url every refresh interval, with the node's id,
// announced URLs, capabilities, a refresh deadline of twice the interval, a
// nonce fixed for the process's life (a new nonce tells the orchestrator the
// node restarted), its health and, when enabled, the performance samples
// gathered since the previous update. While the orchestrator is away the
// loop backs off; it runs on its own goroutine and never blocks the agent.
package registration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// Config configures a Registrar.
type Config struct {
	// NodeID is the node's UUID.
	NodeID string
	// RegisterURL is the orchestrator's NodeRegistration server.
	RegisterURL string
	// AgentURL and InvocationURL are the announced URLs.
	AgentURL      string
	InvocationURL string
	// Capabilities are sent unchanged in every update.
	Capabilities *edgelessapi.NodeCapabilities
	// ResourceProviders are the node's resource providers, sent unchanged
	// in every update (as upstream's node sends them).
	ResourceProviders []*edgelessapi.ResourceProviderSpecification
	// Interval is the refresh period (subscription_refresh_interval_sec).
	Interval time.Duration
	// Nonce identifies this run of the node; 0 draws a random one.
	Nonce uint64
	// Samples, if set, are drained into each update.
	Samples *telemetry.Samples
	// StateDir is the directory whose disk's free space is reported.
	StateDir string
	// MaxBackoff caps the wait between attempts while the orchestrator is
	// away (default: the larger of Interval and 10s).
	MaxBackoff time.Duration
	// Logger receives the registration's logs.
	Logger *slog.Logger
	// Transport is the client transport to the orchestrator: TLS when it
	// carries a client config (an http:// RegisterURL is then dialled with
	// TLS too); the zero value is plain-text h2c.
	Transport transport.Config
}

// Registrar sends UpdateNode periodically.
type Registrar struct {
	cfg    Config
	client edgelessapiconnect.NodeRegistrationClient
	health *healthProbe
	log    *slog.Logger
}

// New returns a Registrar for cfg.
func New(cfg Config) *Registrar {
	if cfg.Nonce == 0 {
		cfg.Nonce = rand.Uint64() | 1
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = max(cfg.Interval, 10*time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StateDir == "" {
		cfg.StateDir = "."
	}
	return &Registrar{
		cfg:    cfg,
		client: edgelessapiconnect.NewNodeRegistrationClient(newClient(cfg.Transport), cfg.RegisterURL, transport.ClientOptions(transport.ControlMaxBytes)...),
		health: newHealthProbe(cfg.StateDir),
		log:    cfg.Logger.With(slog.String("component", "registration"), slog.String("orchestrator", cfg.RegisterURL)),
	}
}

// newClient speaks gRPC over plain-text HTTP/2, as upstream's tonic
// servers expect, or over TLS with tc's client config.
func newClient(tc transport.Config) *http.Client {
	hc, _, _ := transport.ClientConfig{Config: tc}.NewClient() // only server configs are refused
	return hc
}

// Nonce returns the nonce sent in every update.
func (r *Registrar) Nonce() uint64 { return r.cfg.Nonce }

// Run registers now and then every interval until ctx is done; it returns
// nil then. Failures are logged and retried with backoff.
func (r *Registrar) Run(ctx context.Context) error {
	failures := 0
	backoff := min(r.cfg.Interval, time.Second)
	for {
		err := r.Update(ctx)
		wait := r.cfg.Interval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			if failures == 1 {
				r.log.Warn("orchestrator unreachable; retrying with backoff", "error", err)
			} else {
				r.log.Debug("registration failed", "error", err, "failures", failures)
			}
			wait = jitter(backoff)
			backoff = min(2*backoff, r.cfg.MaxBackoff)
		default:
			if failures > 0 {
				r.log.Info("registered with the orchestrator", "after_failures", failures)
			}
			failures = 0
			backoff = min(r.cfg.Interval, time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// jitter spreads d by up to ±10% so that nodes do not retry in lockstep.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// Request builds the UpdateNodeRequest of now. It drains the samples.
func (r *Registrar) Request() *edgelessapi.UpdateNodeRequest {
	deadline := time.Now().Add(2 * r.cfg.Interval)
	req := &edgelessapi.UpdateNodeRequest{
		NodeId:            r.cfg.NodeID,
		AgentUrl:          r.cfg.AgentURL,
		InvocationUrl:     r.cfg.InvocationURL,
		Capabilities:      r.cfg.Capabilities,
		ResourceProviders: r.cfg.ResourceProviders,
		RefreshDeadline:   ceilUnix(deadline),
		Nonce:             r.cfg.Nonce,
		HealthStatus:      r.health.sample(),
	}
	if r.cfg.Samples != nil {
		req.PerformanceSamples = r.cfg.Samples.Drain()
	}
	return req
}

// Update sends one UpdateNode. Its deadline is twice the refresh interval,
// between 5s and 30s: an orchestrator may handle a new node's first update
// by calling back into the node (Reset, UpdatePeers) before it answers.
func (r *Registrar) Update(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(max(2*r.cfg.Interval, 5*time.Second), 30*time.Second))
	defer cancel()
	req := r.Request()
	res, err := r.client.UpdateNode(ctx, req)
	if err == nil && res.GetResponseError() != nil {
		e := res.GetResponseError()
		err = &RejectedError{Summary: e.GetSummary(), Detail: e.GetDetail()}
	}
	if err != nil {
		if r.cfg.Samples != nil {
			// Not delivered: they go with the next update.
			r.cfg.Samples.Restore(req.GetPerformanceSamples())
		}
		return fmt.Errorf("update node at %s: %w", r.cfg.RegisterURL, err)
	}
	return nil
}

// RejectedError is an UpdateNodeResponse.response_error.
type RejectedError struct {
	Summary, Detail string
}

// Error returns "rejected: summary: detail".
func (e *RejectedError) Error() string {
	if e.Detail == "" {
		return "rejected: " + e.Summary
	}
	return "rejected: " + e.Summary + ": " + e.Detail
}

// IsRejected reports whether err is a rejection by the orchestrator.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// ceilUnix returns t in whole seconds since the epoch, rounded up: the
// deadline promised to the orchestrator is never earlier than meant.
func ceilUnix(t time.Time) uint64 {
	secs := t.Unix()
	if t.Nanosecond() > 0 {
		secs++
	}
	return uint64(secs)
}
