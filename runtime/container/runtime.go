package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/lograte"
)

var (
	_ contract.Runtime  = (*Runtime)(nil)
	_ contract.Instance = (*Instance)(nil)
)

// Defaults for the zero fields of Config.
const (
	DefaultBootTimeout = 30 * time.Second
	DefaultInitTimeout = 30 * time.Second
	DefaultCallTimeout = 60 * time.Second
	DefaultStopTimeout = 2 * time.Second
	DefaultStopGrace   = 2 * time.Second
)

// Runtime runs a node's container function instances and serves the
// GuestAPIHost API they call back into. Its registry holds no lock across
// calls: each instance has its own state, and requests of different
// instances proceed concurrently.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	docker containerAPI // nil with Config.NoDocker
	// network is the Docker network the containers join.
	network Network

	// instances maps contract.InstanceID to *Instance, from Start until the
	// instance is torn down.
	instances sync.Map
	// byPeer maps a container's bridge address (netip.Addr) to its
	// *Instance, for Slf.
	byPeer sync.Map

	// life guards closed against Start registering an instance while
	// Close collects them; it is never held across a call.
	life   sync.RWMutex
	closed bool

	droppedCasts atomic.Int64

	// pool is the prewarm pool (pool.go); nil when off.
	pool *pool

	// sockRoot is the directory of the containers' guest socket
	// directories (guestsock.go); empty when guest sockets are off.
	// sockLock holds its flock until Close removes it; openSockets counts
	// the containers' sockets not yet closed.
	sockRoot    string
	sockLock    *os.File
	openSockets atomic.Int64
	// sockLog rate-limits the lines of containers started without
	// guest sockets because making them failed.
	sockLog lograte.Limiter
	// hostSockRequests counts the GuestAPIHost requests let in on
	// containers' host sockets (tests).
	hostSockRequests atomic.Uint64
	// hostSrv is the GuestAPIHost server (NewGRPCServer), which serves
	// the containers' host sockets too.
	hostSrv atomic.Pointer[grpc.Server]
	// sockHook, if set (tests), is called with each new guest socket
	// directory before its container is created.
	sockHook func(dir string)
	// socketInstances counts the instances booted on guest sockets.
	socketInstances atomic.Uint64

	// refusedCallers counts refused GuestAPIHost callers; refuseLog
	// rate-limits their log lines.
	refusedCallers atomic.Uint64
	refuseLog      lograte.Limiter
}

// New returns a Runtime for cfg. Unless cfg.NoDocker is set it connects to
// the Docker engine (negotiating the API version) and removes every
// container labelled with cfg.NodeID, in any state: they were left by an
// earlier run of this node, which tracks none of them now.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger.With(slog.String("component", "container-runtime"))}
	if cfg.NoDocker {
		return r, nil
	}
	c, err := newDockerClient(cfg.DockerHost)
	if err != nil {
		return nil, err
	}
	r.docker = c
	if r.network, err = ensureNetwork(ctx, c, cfg.Network); err != nil {
		c.Close()
		return nil, fmt.Errorf("container runtime: %w", err)
	}
	if err := r.reconcile(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := r.setUpGuestSockets(); err != nil {
		c.Close()
		return nil, err
	}
	if cfg.Prewarm.Enabled {
		r.pool = newPool(r, cfg.Prewarm)
	}
	return r, nil
}

// fill validates the configuration and sets defaults.
func (c *Config) fill() error {
	if _, err := uuid.Parse(c.NodeID); err != nil {
		return fmt.Errorf("container runtime config: node id %q: %w", c.NodeID, err)
	}
	c.NodeID = uuid.MustParse(c.NodeID).String()
	u, err := url.Parse(c.GuestAPIHostURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("container runtime config: guest_api_host_url %q: want http://<ip>:<port>", c.GuestAPIHostURL)
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&c.BootTimeout, DefaultBootTimeout},
		{&c.InitTimeout, DefaultInitTimeout},
		{&c.CallTimeout, DefaultCallTimeout},
		{&c.StopTimeout, DefaultStopTimeout},
		{&c.StopGrace, DefaultStopGrace},
	} {
		if *d.p <= 0 {
			*d.p = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LogLines <= 0 {
		c.LogLines = defaultLogLines
	}
	if c.MaxPayloadBytes <= 0 {
		c.MaxPayloadBytes = transport.DefaultPayloadMaxBytes
	}
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	switch c.GuestSockets {
	case "":
		c.GuestSockets = GuestSocketsAuto
	case GuestSocketsAuto, GuestSocketsOff:
	default:
		return fmt.Errorf("container runtime config: guest_sockets %q: want %q or %q", c.GuestSockets, GuestSocketsAuto, GuestSocketsOff)
	}
	c.Defaults = c.Defaults.withDefaults(DefaultLimits)
	c.Maxima = c.Maxima.withDefaults(DefaultMaxima)
	if err := c.Defaults.exceeds(c.Maxima); err != nil {
		return fmt.Errorf("container runtime config: default limits: %w", err)
	}
	if c.TmpfsBytes <= 0 {
		c.TmpfsBytes = DefaultTmpfsBytes
	}
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = DefaultLogMaxBytes
	}
	if c.LogMaxFiles <= 0 {
		c.LogMaxFiles = DefaultLogMaxFiles
	}
	for _, cp := range c.CapAdd {
		if !validCapability(cp) {
			return fmt.Errorf("container runtime config: capability %q: want a name such as NET_BIND_SERVICE", cp)
		}
	}
	if c.MaxDelayedCasts <= 0 {
		c.MaxDelayedCasts = DefaultMaxDelayedCasts
	}
	if c.MaxDelayedCastBytes <= 0 {
		c.MaxDelayedCastBytes = DefaultMaxDelayedCastBytes
	}
	return nil
}

// Serve serves GuestAPIHost (gRPC over plain HTTP/2, grpc-go; see
// NewGRPCServer) on ln, to known callers only, until ctx is done, then
// shuts the server down. It closes ln.
func (r *Runtime) Serve(ctx context.Context, ln net.Listener) error {
	srv, err := r.NewGRPCServer()
	if err != nil {
		ln.Close()
		return err
	}
	return transport.ServeGRPC(ctx, srv, r.KnownCallersOnly(ln), "guest api host")
}

// Start creates an instance from spec and returns once it has been booted
// and initialized. On any failure nothing is left behind: the container
// (if created) is removed.
func (r *Runtime) Start(ctx context.Context, spec contract.StartSpec) (contract.Instance, error) {
	i, err := r.start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return i, nil
}

// FunctionType returns "CONTAINER", the function type this runtime runs.
func (r *Runtime) FunctionType() string { return FunctionType }

// start is Start with the concrete instance type.
func (r *Runtime) start(ctx context.Context, spec contract.StartSpec) (*Instance, error) {
	i, err := r.newInstance(spec)
	if err != nil {
		return nil, err
	}
	r.takePooled(ctx, i) // a prewarmed container, if one matches (pool.go)
	defer r.startDone(i)
	err = r.register(i)
	r.afterTake(i)
	if err != nil {
		if i.pooled != nil {
			i.pooled.claim(func(contract.ExitInfo) {})
			i.ctr.remove(false, 0, false)
		}
		return nil, err
	}
	err = i.start(ctx)
	if r.pooledStarted(ctx, i, err) {
		// The pooled container failed at Boot: remove it, and start
		// again in a container of the instance's own (pool.go).
		i.teardown(err, contract.StateFailed)
		cold, nerr := r.newInstance(spec)
		if nerr != nil {
			return nil, nerr
		}
		cold.poolSpec, i = i.poolSpec, cold
		if err := r.register(i); err != nil {
			return nil, err
		}
		err = i.start(ctx)
	}
	if err != nil {
		i.teardown(err, contract.StateFailed)
		return nil, err
	}
	i.afterStart()
	return i, nil
}

// register adds i to the registry unless the runtime is closed or the id
// is taken.
func (r *Runtime) register(i *Instance) error {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return fmt.Errorf("start instance %s: %w", i.id.FunctionID, contract.ErrRuntimeClosed)
	}
	if _, loaded := r.instances.LoadOrStore(i.id, i); loaded {
		return fmt.Errorf("start instance %s: %w", i.id.FunctionID, contract.ErrDuplicateInstance)
	}
	return nil
}

// deregister removes i from the registry.
func (r *Runtime) deregister(i *Instance) {
	r.instances.CompareAndDelete(i.id, i)
	if cn := i.conn.Load(); cn != nil && cn.peer.IsValid() {
		r.byPeer.CompareAndDelete(cn.peer, i)
	}
}

// Instance returns the live instance with the given id.
func (r *Runtime) Instance(id contract.InstanceID) (*Instance, bool) {
	v, ok := r.instances.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*Instance), true
}

// Instances returns the instances that are starting, running or stopping.
func (r *Runtime) Instances() []*Instance {
	var out []*Instance
	r.instances.Range(func(_, v any) bool {
		out = append(out, v.(*Instance))
		return true
	})
	return out
}

// DroppedCasts counts the casts to unmapped aliases dropped so far, over all
// instances.
func (r *Runtime) DroppedCasts() int64 { return r.droppedCasts.Load() }

// Close stops every instance, removes its container and releases the
// Docker connection. Start fails afterwards. It returns once every
// instance is gone, or when ctx is done.
func (r *Runtime) Close(ctx context.Context) error {
	r.life.Lock()
	already := r.closed
	r.closed = true
	r.life.Unlock()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	if r.pool != nil && !already {
		wg.Go(func() {
			if err := r.pool.close(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("prewarm pool: %w", err))
				mu.Unlock()
			}
		})
	}
	for _, i := range r.Instances() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := i.Stop(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The socket root goes once no container's sockets are left open,
	// even if a stop failed; else it stays locked while this process
	// lives, and the next start's sweep removes it.
	if r.sockRoot != "" && !already && r.openSockets.Load() == 0 {
		if err := os.RemoveAll(r.sockRoot); err != nil {
			errs = append(errs, fmt.Errorf("remove guest socket dir: %w", err))
		}
		if r.sockLock != nil {
			_ = r.sockLock.Close()
		}
	}
	if r.docker != nil && !already && len(errs) == 0 {
		if err := r.docker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close docker client: %w", err))
		}
	}
	return errors.Join(errs...)
}

// setUpGuestSockets makes the socket root when guest sockets are on
// (Config.GuestSockets); if "auto" finds them unusable, they are off.
func (r *Runtime) setUpGuestSockets() error {
	if r.cfg.GuestSockets == GuestSocketsOff {
		return nil
	}
	if ok, why := guestSocketsEnabled(r.cfg.DockerHost, r.cfg.GuestSocketDir != ""); !ok {
		r.log.Info("guest sockets off: containers use the Docker network only", slog.String("why", why))
		return nil
	}
	return r.makeSocketRoot()
}

// makeSocketRoot makes the socket root. A failure fails the start only if
// the operator set GuestSocketDir; with "auto" and the default parent it
// turns guest sockets off (e.g. a $TMPDIR too long for socket paths).
func (r *Runtime) makeSocketRoot() error {
	root, lock, err := makeSocketRoot(socketParent(r.cfg.GuestSocketDir), r.log)
	if err != nil {
		if r.cfg.GuestSocketDir == "" {
			r.log.Warn("guest sockets off: containers use the Docker network only (set guest_socket_dir to turn them on)", slog.Any("error", err))
			return nil
		}
		return fmt.Errorf("container runtime: %w", err)
	}
	r.sockRoot, r.sockLock = root, lock
	r.log.Debug("guest sockets on", slog.String("dir", root))
	return nil
}

// GuestSocketInstances counts the instances started so far whose events
// go over guest sockets (the others use the Docker network).
func (r *Runtime) GuestSocketInstances() uint64 { return r.socketInstances.Load() }

// Network returns the Docker network the runtime's containers join (zero
// without Docker).
func (r *Runtime) Network() Network { return r.network }
