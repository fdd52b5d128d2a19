package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/adminguard"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"golang.org/x/sync/errgroup"
)

// Orchestrator is the embedded orchestrator: node registry, workflows and
// the servers for both. It is safe for concurrent use.
type Orchestrator struct {
	cfg       Config
	log       *slog.Logger
	agentHTTP *http.Client
	adminHTTP *http.Client

	// ctx lives as long as the Orchestrator; node queues run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// draining is set by Drain: nodes are no longer swept, so that a box's
	// own node, stopping before its orchestrator, is not taken for lost.
	draining atomic.Bool

	mu          sync.Mutex
	cond        *sync.Cond // signalled when a node becomes ready
	nodes       map[string]*node
	incarnation uint64
	workflows   map[string]*workflowRecord
	// logs holds TelemetryLog entries by instance (function id).
	logs map[string]*logRing
	// early holds the entries of instances not tracked yet (lines written
	// during Init reach the orchestrator before Start has answered),
	// oldest first, bounded by maxEarlyInstances.
	early      map[string]*logRing
	earlyOrder []string

	// instances caches nodes' instance lists for the event counts of the
	// admin API (the console's pages poll them).
	instances instancesCache
}

// New returns an Orchestrator. Call Close (or Serve, which closes it on
// return) to stop its background work.
func New(cfg Config) *Orchestrator {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	o := &Orchestrator{
		cfg:       cfg,
		log:       cfg.Logger,
		agentHTTP: newAgentHTTPClient(cfg.TLS),
		adminHTTP: newAdminHTTPClient(cfg.TLS, cfg.AdminToken),
		ctx:       ctx,
		cancel:    cancel,
		nodes:     map[string]*node{},
		workflows: map[string]*workflowRecord{},
		logs:      map[string]*logRing{},
		early:     map[string]*logRing{},
	}
	o.cond = sync.NewCond(&o.mu)
	return o
}

// Close stops the node queues and the sweeper and waits for them. It does
// not stop workflows: their instances belong to the nodes, which stop them
// when they shut down or are Reset.
func (o *Orchestrator) Close() {
	o.cancel()
	o.mu.Lock()
	for _, n := range o.nodes {
		n.ops.close()
	}
	o.cond.Broadcast()
	o.mu.Unlock()
	o.wg.Wait()
	o.agentHTTP.CloseIdleConnections()
	o.adminHTTP.CloseIdleConnections()
}

// ControllerHandler returns the handler for the controller endpoint:
// WorkflowInstance (gRPC, gRPC-Web and Connect), the JSON admin API
// under /admin/v1/ and, if configured, the console at every other path.
func (o *Orchestrator) ControllerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewWorkflowInstanceHandler(&workflowServer{o: o}, handlerOptions()...))
	mux.Handle("/admin/v1/", adminguard.Handler(o.adminHandler(), adminguard.JSON))
	if o.cfg.Console != nil {
		// The Host check keeps a page under a rebinding name from the
		// console too.
		mux.Handle("/", adminguard.Handler(o.cfg.Console, adminguard.JSON))
	}
	return adminapi.RequireToken(o.cfg.AdminToken, mux)
}

// RegistrationHandler returns the handler for the node_register endpoint:
// NodeRegistration.
func (o *Orchestrator) RegistrationHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewNodeRegistrationHandler(&registrationServer{o: o}, handlerOptions()...))
	return mux
}

// Serve serves the controller endpoint on controllerLn and the
// node_register endpoint on registerLn (with TLS when configured), and
// sweeps expired nodes, until ctx is done; then it shuts the servers down,
// closes the Orchestrator and returns nil. A listener may be nil to not
// serve that endpoint.
func (o *Orchestrator) Serve(ctx context.Context, controllerLn, registerLn net.Listener) error {
	defer o.Close()
	g, ctx := errgroup.WithContext(ctx)
	serve := func(name string, ln net.Listener, h http.Handler) {
		if ln == nil {
			return
		}
		srv, err := o.cfg.TLS.ServerConfig().NewServer(h, o.log)
		if err != nil {
			ln.Close()
			g.Go(func() error { return fmt.Errorf("%s server: %w", name, err) })
			return
		}
		g.Go(func() error {
			o.log.Info("orchestrator listening", "endpoint", name, "addr", ln.Addr().String())
			return transport.Serve(ctx, srv, ln, name)
		})
	}
	serve("controller", controllerLn, o.ControllerHandler())
	serve("node_register", registerLn, o.RegistrationHandler())
	g.Go(func() error {
		t := time.NewTicker(o.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				o.sweep(now)
			}
		}
	})
	return g.Wait()
}
