package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/agent"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/registration"
	"github.com/edgeless-go/edgeless/node/internal/state"
	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/wasm"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
)

// ShutdownTimeout bounds the stop of every instance at shutdown.
const ShutdownTimeout = 2 * time.Minute

// URLs are the addresses a running node bound and announces.
type URLs struct {
	// Agent and Invocation are the bound agent and data-plane servers.
	Agent, Invocation string
	// AgentAnnounced and InvocationAnnounced are sent to the orchestrator.
	AgentAnnounced, InvocationAnnounced string
	// GuestAPIHost is the URL containers call ("" without a container
	// runtime).
	GuestAPIHost string
	// Metrics is the Prometheus endpoint ("" when disabled).
	Metrics string
	// HTTPIngress is the bound http-ingress listener ("" without one).
	HTTPIngress string
}

// Daemon is a node whose listeners are bound and whose runtime is
// connected, ready to Serve.
type Daemon struct {
	cfg  *config.Config
	log  *slog.Logger
	urls URLs

	// rt is the container runtime (nil without one); it also serves
	// GuestAPIHost on guestLn.
	rt *container.Runtime
	// runtimes are the node's runtimes, one per function type: the agent
	// starts instances on them and the daemon closes them.
	runtimes []contract.Runtime
	dp       *dataplane.Dataplane
	agent    *agent.Agent
	reg      *registration.Registrar // nil without node_register_url
	metrics  *telemetry.Metrics
	res      *nodeResources
	// tls is the loaded TLS configuration (nil: plain text). The guest API
	// host never uses it.
	tls *transport.TLS
	// handshakes counts the failed TLS handshakes of the agent and
	// metrics servers (connect-go on net/http); the invocation port's are
	// the data plane's.
	handshakes handshakeFailures

	agentLn, invocationLn, guestLn, metricsLn, ingressLn net.Listener
}

// Run runs the node described by cfg until ctx is done, then stops every
// instance and removes its container before it returns.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	d, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.Serve(ctx)
}

// New validates cfg, loads its TLS configuration (security.tls_config, or
// tls_config.toml in the working directory, or plain text), binds the
// node's listeners, connects the container runtime (removing containers
// left by an earlier run of this node) and builds the agent. The caller
// must call Serve, which releases everything.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	tc, err := cfg.Security.LoadTLS(log, slog.LevelWarn)
	if err != nil {
		return nil, err
	}
	return NewWithTLS(ctx, cfg, tc, log)
}

// NewWithTLS is New with the TLS configuration already loaded (nil: plain
// text), as in-a-box shares one between its orchestrator and its node.
func NewWithTLS(ctx context.Context, cfg *config.Config, tc *transport.TLS, log *slog.Logger) (_ *Daemon, err error) {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := checkSchemes(cfg, tc); err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		log.Warn("config: " + w)
	}
	g := cfg.General
	g.NodeID = config.CanonicalNodeID(g.NodeID)
	log = log.With(slog.String("node", g.NodeID))
	d := &Daemon{cfg: cfg, log: log, tls: tc}
	defer func() {
		if err != nil {
			if d.res != nil {
				d.res.close(context.Background())
			}
			d.closeListeners()
			for _, rt := range d.runtimes {
				cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				rt.Close(cctx)
				cancel()
			}
		}
	}()

	states, err := state.Open(g.StateDir)
	if err != nil {
		return nil, fmt.Errorf("general.state_dir: %w", err)
	}
	d.metrics = telemetry.NewMetrics()
	var samples *telemetry.Samples
	if cfg.Telemetry.PerformanceSamples {
		samples = telemetry.NewSamples(0)
	}
	rec := telemetry.NewRecorder(d.metrics, samples, log)

	if d.agentLn, err = listen("general.agent_url", g.AgentURL); err != nil {
		return nil, err
	}
	if d.invocationLn, err = listen("general.invocation_url", g.InvocationURL); err != nil {
		return nil, err
	}
	if cfg.Telemetry.MetricsURL != "" {
		if d.metricsLn, err = listen("telemetry.metrics_url", cfg.Telemetry.MetricsURL); err != nil {
			return nil, err
		}
		d.urls.Metrics = d.serverURL(boundAddr(d.metricsLn)) + "/metrics"
	}
	if r := cfg.Resources; r.HTTPIngressProvider != "" {
		if d.ingressLn, err = listen("resources.http_ingress_url", r.HTTPIngressURL); err != nil {
			return nil, err
		}
		d.urls.HTTPIngress = httpURL(boundAddr(d.ingressLn))
	}
	d.urls.Agent = d.serverURL(boundAddr(d.agentLn))
	d.urls.Invocation = d.serverURL(boundAddr(d.invocationLn))
	scheme := d.scheme()
	if d.urls.AgentAnnounced, err = announced("general.agent_url_announced", g.AgentURLAnnounced, scheme, boundAddr(d.agentLn)); err != nil {
		return nil, err
	}
	if d.urls.InvocationAnnounced, err = announced("general.invocation_url_announced", g.InvocationURLAnnounced, scheme, boundAddr(d.invocationLn)); err != nil {
		return nil, err
	}

	if cr := cfg.ContainerRuntime; cr.Enabled {
		var how string
		d.guestLn, d.urls.GuestAPIHost, how, err = guestListener(ctx, cr.GuestAPIHostURL, cr.Network)
		if err != nil {
			return nil, err
		}
		log.Info("guest API host chosen", "url", d.urls.GuestAPIHost, "how", how, "configured", cr.GuestAPIHostURL)
		var rcfg container.Config
		if rcfg, err = cfg.RuntimeConfig(d.urls.GuestAPIHost, log); err != nil {
			return nil, err
		}
		d.rt, err = container.New(ctx, rcfg)
		if err != nil {
			return nil, fmt.Errorf("container runtime: %w", err)
		}
		d.runtimes = append(d.runtimes, d.rt)
	}
	if cfg.WasmRuntime.Enabled {
		w, err := wasm.New(ctx, cfg.WasmRuntimeConfig(log))
		if err != nil {
			return nil, fmt.Errorf("wasm runtime: %w", err)
		}
		d.runtimes = append(d.runtimes, w)
	}

	d.dp = dataplane.New(dataplane.Config{
		NodeID:               g.NodeID,
		CallTimeout:          cfg.Dataplane.CallTimeout(),
		QueueSize:            cfg.Dataplane.QueueSize,
		MaxQueueDelay:        time.Duration(cfg.Dataplane.MaxQueueDelayMS) * time.Millisecond,
		MaxAdmissionWait:     time.Duration(cfg.Dataplane.MaxAdmissionWaitMS) * time.Millisecond,
		ObserveCastWait:      d.metrics.ObserveCastWait,
		ObserveAdmissionWait: d.metrics.ObserveAdmissionWait,
		MaxPayloadBytes:      cfg.Dataplane.MaxPayloadBytes,
		Logger:               log, // the data plane adds component=dataplane
		Transport:            tc.ClientConfig(),
	})
	d.exportDataplaneStats()
	d.handshakes.export(d.metrics)
	d.exportPoolStats()
	if d.rt != nil {
		d.metrics.CounterFunc("guest_api_host_callers_refused_total",
			"GuestAPIHost connections and requests refused: not from a container of this node nor this host (nor on the guest socket of a container that runs an instance), or with an originator that is not the caller's.",
			func() float64 { return float64(d.rt.RefusedCallers()) })
		d.metrics.CounterFunc("container_guest_socket_instances_total",
			"Container instances booted on guest sockets (their events go over Unix sockets instead of the Docker network).",
			func() float64 { return float64(d.rt.GuestSocketInstances()) })
	}
	if d.res, err = newResources(cfg.Resources, d.ingressLn, d.dp, log); err != nil {
		return nil, err
	}
	d.agent, err = agent.New(agent.Config{
		NodeID:    g.NodeID,
		Runtimes:  d.runtimes,
		Dataplane: d.dp,
		Resources: d.res.m,
		States:    states,
		Recorder:  rec,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}

	if g.NodeRegisterURL != "" {
		hostname, herr := os.Hostname()
		if herr != nil {
			hostname = "unknown"
		}
		caps := registration.Capabilities(registration.Detect(g.StateDir), cfg.UserNodeCapabilities, d.agent.Runtimes(), hostname)
		d.reg = registration.New(registration.Config{
			NodeID:            g.NodeID,
			RegisterURL:       g.NodeRegisterURL,
			AgentURL:          d.urls.AgentAnnounced,
			InvocationURL:     d.urls.InvocationAnnounced,
			Capabilities:      caps,
			ResourceProviders: d.res.m.Specs(),
			Interval:          g.RefreshInterval(),
			Samples:           samples,
			StateDir:          g.StateDir,
			Logger:            log,
			Transport:         tc.ClientConfig(),
		})
	}
	return d, nil
}

// URLs returns the bound and announced addresses.
func (d *Daemon) URLs() URLs { return d.urls }

// PoolContainers returns the ids of the containers the container
// runtime's prewarm pool holds (idle or filling); none without a
// container runtime. A container only ever leaves the pool.
func (d *Daemon) PoolContainers() []string {
	if d.rt == nil {
		return nil
	}
	return d.rt.PoolContainers()
}

// scheme is the scheme of the node's servers: https when they serve TLS.
func (d *Daemon) scheme() string {
	if d.tls.ServerConfig().TLS != nil {
		return "https"
	}
	return "http"
}

func (d *Daemon) serverURL(ap netip.AddrPort) string {
	return d.scheme() + "://" + netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

func (d *Daemon) closeListeners() {
	for _, ln := range []net.Listener{d.agentLn, d.invocationLn, d.guestLn, d.metricsLn, d.ingressLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// Serve runs the node until ctx is done or a server fails. It then refuses
// new instances, stops every instance and removes its container, closes the
// runtime and shuts the servers down, and returns the first failure (nil
// after a plain cancellation).
func (d *Daemon) Serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	type server struct {
		srv *http.Server
		ln  net.Listener
	}
	servers := map[string]server{}
	// The agent, data plane and metrics serve TLS when configured; the
	// guest API host stays plain text (containers speak plain-text gRPC).
	tlsServer := func(name string, h http.Handler, ln net.Listener) error {
		c := d.tls.ServerConfig()
		c.HandshakeFailed = d.handshakes.reporter(name, d.log)
		srv, err := c.NewServer(h, d.log)
		if err != nil {
			return fmt.Errorf("%s server: %w", name, err)
		}
		servers[name] = server{srv, ln}
		return nil
	}
	if err := tlsServer("agent", adminapi.RequireToken(d.cfg.Security.AdminToken, d.agent.Handler()), d.agentLn); err != nil {
		return d.abort(ctx, err)
	}
	// The data plane (FunctionInvocation, peer to peer) on grpc-go, with
	// the same TLS: gRPC only, as upstream's nodes and ε-ORC speak it.
	inv, err := d.dp.NewGRPCServer(d.tls.ServerConfig())
	if err != nil {
		return d.abort(ctx, fmt.Errorf("invocation server: %w", err))
	}
	if d.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.metrics.Handler())
		mux.Handle("/{$}", d.metrics.Handler())
		if d.cfg.Telemetry.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		if err := tlsServer("metrics", mux, d.metricsLn); err != nil {
			inv.Stop()
			return d.abort(ctx, err)
		}
	}
	// The runtime's GuestAPIHost (grpc-go, gRPC only, known callers only);
	// it is shut down after every instance has stopped.
	stopGuest := func() {}
	if d.rt != nil {
		srv, err := d.rt.NewGRPCServer()
		if err != nil {
			d.closeListeners()
			return fmt.Errorf("guest api host server: %w", err)
		}
		guestCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stopGuest = cancel
		ln := d.rt.KnownCallersOnly(d.guestLn)
		g.Go(func() error { return transport.ServeGRPC(guestCtx, srv, ln, "guest api host") })
	}
	for name, s := range servers {
		g.Go(func() error {
			if err := transport.ServeListener(s.srv, s.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s server on %s: %w", name, s.ln.Addr(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := inv.Serve(d.invocationLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("invocation server on %s: %w", d.invocationLn.Addr(), err)
		}
		return nil
	})
	if d.reg != nil {
		g.Go(func() error { return d.reg.Run(gctx) })
	}
	d.log.Info("node running",
		"agent", d.urls.Agent, "agent_announced", d.urls.AgentAnnounced,
		"invocation", d.urls.Invocation, "invocation_announced", d.urls.InvocationAnnounced,
		"guest_api_host", d.urls.GuestAPIHost, "metrics", d.urls.Metrics, "http_ingress", d.urls.HTTPIngress,
		"orchestrator", d.cfg.General.NodeRegisterURL, "runtimes", d.agent.Runtimes())

	g.Go(func() error {
		<-gctx.Done()
		d.log.Info("node stopping: stopping every instance")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		defer cancel()
		var errs []error
		if err := d.agent.Close(sctx); err != nil {
			errs = append(errs, err)
		}
		if err := d.res.close(sctx); err != nil {
			errs = append(errs, fmt.Errorf("close resource providers: %w", err))
		}
		for _, rt := range d.runtimes {
			if err := rt.Close(sctx); err != nil {
				errs = append(errs, fmt.Errorf("close %s runtime: %w", rt.FunctionType(), err))
			}
		}
		stopGuest()
		for _, s := range servers {
			hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), transport.ShutdownGrace)
			if err := s.srv.Shutdown(hctx); err != nil {
				s.srv.Close()
			}
			hcancel()
		}
		transport.StopGRPC(inv)
		d.dp.Close()
		if err := errors.Join(errs...); err != nil {
			d.log.Error("node stopped with errors", "error", err)
			return err
		}
		d.log.Info("node stopped")
		return nil
	})
	return g.Wait()
}

// abort ends a Serve that failed before serving (err): it releases what
// New set up, as the shutdown does (the runtimes, with the prewarm pool's
// containers and filler, the resource providers, the data plane and the
// listeners), and returns err.
func (d *Daemon) abort(ctx context.Context, err error) error {
	d.closeListeners()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	errs := []error{err}
	if cerr := d.agent.Close(sctx); cerr != nil {
		errs = append(errs, cerr)
	}
	if cerr := d.res.close(sctx); cerr != nil {
		errs = append(errs, fmt.Errorf("close resource providers: %w", cerr))
	}
	for _, rt := range d.runtimes {
		if cerr := rt.Close(sctx); cerr != nil {
			errs = append(errs, fmt.Errorf("close %s runtime: %w", rt.FunctionType(), cerr))
		}
	}
	d.dp.Close()
	return errors.Join(errs...)
}

// exportPoolStats publishes the container runtime's prewarm pool counters
// as metrics (zero with the pool off).
func (d *Daemon) exportPoolStats() {
	if d.rt == nil {
		return
	}
	m, rt := d.metrics, d.rt
	for _, c := range []struct {
		name, help string
		v          func(container.PoolStats) uint64
	}{
		{"prewarm_hits_total", "Container starts that took a prewarmed container (no create step).", func(s container.PoolStats) uint64 { return s.Hits }},
		{"prewarm_misses_total", "Container starts, with the prewarm pool on, that created their own container.", func(s container.PoolStats) uint64 { return s.Misses }},
		{"prewarm_evictions_total", "Idle prewarmed containers removed unused (room for a higher-ranked image, or the image's tag moved).", func(s container.PoolStats) uint64 { return s.Evicted }},
		{"prewarm_deaths_total", "Idle prewarmed containers that ended on their own (then replaced).", func(s container.PoolStats) uint64 { return s.Died }},
		{"prewarm_fill_failures_total", "Prewarmed containers that could not be created or did not open their port.", func(s container.PoolStats) uint64 { return s.FillFailures }},
		{"prewarm_discarded_total", "Prewarmed containers taken by a start that failed at Boot (booted by someone else, hung or broken), removed; the start then created its own (a miss).", func(s container.PoolStats) uint64 { return s.Discarded }},
	} {
		m.CounterFunc(c.name, c.help, func() float64 { return float64(c.v(rt.PoolStats())) })
	}
	m.GaugeFunc("prewarm_idle", "Prewarmed containers ready to be taken.", func() float64 { return float64(rt.PoolStats().Idle) })
	m.GaugeFunc("prewarm_warming", "Prewarmed containers being created or waiting for their port.", func() float64 { return float64(rt.PoolStats().Warming) })
}

// exportDataplaneStats publishes the data plane's counters as metrics.
func (d *Daemon) exportDataplaneStats() {
	m, dp := d.metrics, d.dp
	for _, c := range []struct {
		name, help string
		v          func(dataplane.Stats) uint64
	}{
		{"dataplane_casts_delivered_total", "Casts a local instance accepted.", func(s dataplane.Stats) uint64 { return s.CastsDelivered }},
		{"dataplane_casts_failed_total", "Casts a local instance returned an error for.", func(s dataplane.Stats) uint64 { return s.CastsFailed }},
		{"dataplane_casts_dropped_total", "Casts not delivered (no route, full queue, bad payload, unregistered).", func(s dataplane.Stats) uint64 { return s.CastsDropped }},
		{"dataplane_calls_delivered_total", "Calls a local instance answered.", func(s dataplane.Stats) uint64 { return s.CallsDelivered }},
		{"dataplane_calls_failed_total", "Calls answered ERR by this node (receiver error, expiry, unregistered).", func(s dataplane.Stats) uint64 { return s.CallsFailed }},
		{"dataplane_queue_full_total", "Times a sender found an instance's queue full.", func(s dataplane.Stats) uint64 { return s.QueueFull }},
		{"dataplane_casts_shed_total", "Casts refused because the instance's queue held more than max_queue_delay_ms of work (at once, or after max_admission_wait_ms).", func(s dataplane.Stats) uint64 { return s.CastsShed }},
		{"dataplane_replies_unmatched_total", "Replies for which no call waited.", func(s dataplane.Stats) uint64 { return s.RepliesUnmatched }},
		{"dataplane_replies_refused_total", "Replies dropped because their source was not the instance called.", func(s dataplane.Stats) uint64 { return s.RepliesRefused }},
		{"dataplane_events_rejected_total", "Incoming FunctionInvocation events refused.", func(s dataplane.Stats) uint64 { return s.EventsRejected }},
		{"dataplane_tls_handshake_failures_total", "TLS handshakes that failed on the invocation port (client certificate missing or of another CA, no ALPN, plain text).", func(s dataplane.Stats) uint64 { return s.TLSHandshakeFailures }},
	} {
		m.CounterFunc(c.name, c.help, func() float64 { return float64(c.v(dp.Stats())) })
	}
	m.GaugeFunc("dataplane_pending_calls", "Calls waiting for a reply.", func() float64 { return float64(dp.Stats().PendingCalls) })
}
