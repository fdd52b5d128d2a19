package inabox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/edgeless-go/edgeless/node/internal/console"
	"github.com/edgeless-go/edgeless/node/internal/daemon"
	"github.com/edgeless-go/edgeless/node/internal/orchestrator"
)

// Box is a running in-a-box domain.
type Box struct {
	// ControllerURL is the bound WorkflowInstance URL (for clients).
	ControllerURL string
	// RegisterURL is the bound NodeRegistration URL.
	RegisterURL string
	// NodeID is the box's node.
	NodeID string
	// Node are the node's bound and announced URLs.
	Node daemon.URLs
	// Orchestrator is the embedded orchestrator.
	Orchestrator *orchestrator.Orchestrator
	// PoolContainers returns the ids of the containers the node's prewarm
	// pool holds (idle or filling), so that a count of the node's
	// instance containers can leave them out.
	PoolContainers func() []string

	done chan struct{}
	err  error
}

// Start binds the orchestrator's and the node's servers, connects the
// container runtime, and runs both until ctx is done. The node registers
// with the box's orchestrator (whatever its config says). Call Wait to
// learn when the box has shut down: the node first (stopping every instance
// and removing its container), then the orchestrator.
func Start(ctx context.Context, cfg *Config, log *slog.Logger) (*Box, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Orchestrator.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	tc, err := cfg.Node.Security.LoadTLS(log, slog.LevelInfo)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if tc.ServerConfig().TLS != nil {
		scheme = "https"
	}
	for _, u := range []struct{ key, v string }{
		{"orchestrator.controller_url", cfg.Orchestrator.ControllerURL},
		{"orchestrator.node_register_url", cfg.Orchestrator.NodeRegisterURL},
	} {
		if strings.HasPrefix(u.v, "https:") && scheme != "https" {
			return nil, fmt.Errorf("%s %q is https, but no TLS config gives the box a server certificate (set security.tls_config or --tls-config, with [server] server_cert_path and server_key_path)", u.key, u.v)
		}
	}
	ca, err := hostPort(cfg.Orchestrator.ControllerURL)
	if err != nil {
		return nil, err
	}
	ra, err := hostPort(cfg.Orchestrator.NodeRegisterURL)
	if err != nil {
		return nil, err
	}
	cl, err := net.Listen("tcp", ca)
	if err != nil {
		return nil, fmt.Errorf("orchestrator.controller_url: cannot listen on %s: %w", ca, err)
	}
	rl, err := net.Listen("tcp", ra)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("orchestrator.node_register_url: cannot listen on %s: %w", ra, err)
	}
	// The web console, beside the admin API on the controller's listener.
	con, err := console.New()
	if err != nil {
		cl.Close()
		rl.Close()
		return nil, err
	}
	b := &Box{
		ControllerURL: dialURL(scheme, cl.Addr()),
		RegisterURL:   dialURL(scheme, rl.Addr()),
		NodeID:        cfg.Node.General.NodeID,
		done:          make(chan struct{}),
	}

	node := *cfg.Node
	if node.General.NodeRegisterURL != b.RegisterURL {
		log.Info("in a box the node registers with the box's orchestrator",
			"node_register_url", b.RegisterURL, "configured", node.General.NodeRegisterURL)
		node.General.NodeRegisterURL = b.RegisterURL
	}
	d, err := daemon.NewWithTLS(ctx, &node, tc, log) // the node's parts name themselves (component=agent, ...)
	if err != nil {
		cl.Close()
		rl.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	b.Node = d.URLs()
	b.PoolContainers = d.PoolContainers

	ocfg := cfg.Orchestrator.OrchestratorConfig()
	ocfg.Logger = log.With("component", "orchestrator")
	ocfg.TLS = tc
	ocfg.AdminToken = cfg.Node.Security.AdminToken
	ocfg.Console = con
	b.Orchestrator = orchestrator.New(ocfg)

	// The node stops first (it needs nothing from the orchestrator to stop
	// its instances); the orchestrator serves until the node is done.
	nodeCtx, stopNode := context.WithCancel(ctx)
	orcCtx, stopOrc := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	var orcErr, nodeErr error
	wg.Go(func() {
		orcErr = b.Orchestrator.Serve(orcCtx, cl, rl)
		if orcErr != nil {
			stopNode()
		}
	})
	wg.Go(func() {
		nodeErr = d.Serve(nodeCtx)
		stopOrc()
	})
	go func() { // ends with the box at the latest
		select {
		case <-nodeCtx.Done(): // the box is shutting down: its node's end is no loss
			b.Orchestrator.Drain()
		case <-b.done:
		}
	}()
	go func() {
		wg.Wait()
		stopNode()
		stopOrc()
		if orcErr != nil {
			orcErr = fmt.Errorf("orchestrator: %w", orcErr)
		}
		if nodeErr != nil {
			nodeErr = fmt.Errorf("node: %w", nodeErr)
		}
		b.err = errors.Join(orcErr, nodeErr)
		close(b.done)
	}()
	log.Info("in-a-box running", "controller_url", b.ControllerURL, "node_register_url", b.RegisterURL,
		"node", b.NodeID, "agent_url", b.Node.Agent,
		"function_output", "edgeless function logs [--telemetry] WORKFLOW FUNCTION (or --log-level debug)")
	return b, nil
}

// dialURL is the URL clients dial for a bound address (loopback for an
// unspecified bind address).
func dialURL(scheme string, a net.Addr) string {
	ta := a.(*net.TCPAddr)
	ip := ta.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return scheme + "://" + net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

// WaitReady waits until the box's node has registered and is ready to host
// instances, or ctx is done, or the box has stopped.
func (b *Box) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := b.Orchestrator.WaitNodeReady(ctx, b.NodeID); err != nil {
		select {
		case <-b.done:
			return fmt.Errorf("in-a-box stopped before its node was ready: %w", b.err)
		default:
		}
		return err
	}
	return nil
}

// Done is closed once the box has shut down.
func (b *Box) Done() <-chan struct{} { return b.done }

// Wait waits until the box has shut down and returns what failed, if
// anything (nil after a plain cancellation).
func (b *Box) Wait() error {
	<-b.done
	return b.err
}

// Run runs a box until ctx is done.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	b, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	return b.Wait()
}
