package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// FunctionType is the function_type of the classes this runtime runs, as
// upstream names it.
const FunctionType = "RUST_WASM"

// Defaults for the zero fields of Config.
const (
	DefaultMaxModuleBytes  = 32 << 20
	DefaultMaxMemoryPages  = 1024 // 64 MiB
	DefaultInitTimeout     = 10 * time.Second
	DefaultCallTimeout     = 60 * time.Second
	DefaultStopTimeout     = 2 * time.Second
	DefaultMaxDelayedCasts = 10_000
	DefaultCacheSize       = 64
	defaultLogLines        = 500
)

// Config configures a Runtime.
type Config struct {
	// MaxModuleBytes bounds the size of a module's binary.
	MaxModuleBytes int
	// MaxMemoryPages bounds each instance's linear memory, in 64 KiB pages:
	// memory.grow beyond it fails (returns -1 to the guest), and a module
	// that declares a larger minimum does not start.
	MaxMemoryPages uint32
	// InitTimeout bounds instantiation plus handle_init_asm.
	InitTimeout time.Duration
	// CallTimeout bounds each cast and call delivered to an instance,
	// including the calls the guest makes meanwhile. A guest still running
	// at the deadline is stopped and the instance ends (reason "deadline
	// exceeded").
	CallTimeout time.Duration
	// StopTimeout bounds handle_stop_asm (and the wait for events inside
	// the guest to finish).
	StopTimeout time.Duration
	// MaxDelayedCasts bounds the delayed casts one instance may have
	// waiting; beyond it delayed_cast_asm drops the cast with a warning.
	MaxDelayedCasts int
	// CacheSize bounds how many compiled modules are kept (least recently
	// used ones are dropped).
	CacheSize int
	// CacheDir, if set, is a directory where wazero keeps compiled machine
	// code across runtimes and restarts (a large module, such as a Go one,
	// then compiles once per machine); empty keeps it in memory only.
	CacheDir string
	// LogLines is how many log lines each instance keeps.
	LogLines int
	// Logger receives the runtime's logs.
	Logger *slog.Logger
}

func (c *Config) fill() {
	if c.MaxModuleBytes <= 0 {
		c.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if c.MaxMemoryPages == 0 || c.MaxMemoryPages > 65536 {
		c.MaxMemoryPages = DefaultMaxMemoryPages
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&c.InitTimeout, DefaultInitTimeout},
		{&c.CallTimeout, DefaultCallTimeout},
		{&c.StopTimeout, DefaultStopTimeout},
	} {
		if *d.p <= 0 {
			*d.p = d.def
		}
	}
	if c.MaxDelayedCasts <= 0 {
		c.MaxDelayedCasts = DefaultMaxDelayedCasts
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.LogLines <= 0 {
		c.LogLines = defaultLogLines
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Errors returned by the runtime, beside contract's sentinels.
var (
	// ErrBadModule: the class's binary is missing, too large, not a valid
	// module, or does not have upstream's ABI (exports, imports).
	ErrBadModule = errors.New("bad wasm module")
	// ErrInstanceEnded: the instance's guest trapped, ran past its deadline
	// or exited; it is gone.
	ErrInstanceEnded = errors.New("wasm instance ended")
)

// Runtime runs RUST_WASM function instances in-process on wazero. It
// implements contract.Runtime.
type Runtime struct {
	cfg   Config
	log   *slog.Logger
	wz    wazero.Runtime
	cache *moduleCache

	instances sync.Map // contract.InstanceID -> *Instance

	// life guards closed against a Start registering while Close runs;
	// starts counts the Starts in flight, which Close cancels (closing
	// cancels closeCtx) and waits for before closing wazero.
	life     sync.RWMutex
	closed   bool
	starts   sync.WaitGroup
	closeCtx context.Context
	closeAll context.CancelFunc
}

var _ contract.Runtime = (*Runtime)(nil)

// New returns a Runtime for cfg: one wazero runtime with upstream's host
// module "env" and WASI preview 1 (which Go-built modules import).
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg.fill()
	wcfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.MaxMemoryPages).
		WithCloseOnContextDone(true)
	if cfg.CacheDir != "" {
		cc, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm runtime: compilation cache in %s: %w", cfg.CacheDir, err)
		}
		wcfg = wcfg.WithCompilationCache(cc)
	}
	wz := wazero.NewRuntimeWithConfig(ctx, wcfg)
	r := &Runtime{cfg: cfg, log: cfg.Logger.With(slog.String("component", "wasm-runtime")), wz: wz}
	r.closeCtx, r.closeAll = context.WithCancel(context.Background())
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wz); err != nil {
		wz.Close(ctx)
		return nil, fmt.Errorf("wasm runtime: instantiate wasi: %w", err)
	}
	if _, err := hostModule(wz).Instantiate(ctx); err != nil {
		wz.Close(ctx)
		return nil, fmt.Errorf("wasm runtime: instantiate host module env: %w", err)
	}
	r.cache = newModuleCache(wz, cfg.CacheSize)
	return r, nil
}

// FunctionType returns "RUST_WASM".
func (r *Runtime) FunctionType() string { return FunctionType }

// Stats returns the compiled-module cache's counters.
func (r *Runtime) Stats() CacheStats { return r.cache.stats() }

// Start compiles spec.Binary (or takes it from the cache), instantiates it,
// runs handle_init_asm with the init payload and state, and returns once
// that has returned. On failure nothing is left behind and the error says
// why (a bad module, a trap, the deadline).
func (r *Runtime) Start(ctx context.Context, spec contract.StartSpec) (contract.Instance, error) {
	i, err := r.start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return i, nil
}

func (r *Runtime) start(ctx context.Context, spec contract.StartSpec) (*Instance, error) {
	fid := spec.ID.FunctionID
	nodeU, err := uuid.Parse(spec.ID.NodeID)
	if err != nil {
		return nil, fmt.Errorf("start wasm instance: node id %q: %w", spec.ID.NodeID, err)
	}
	fnU, err := uuid.Parse(fid)
	if err != nil {
		return nil, fmt.Errorf("start wasm instance: function id %q: %w", fid, err)
	}
	if spec.Host == nil {
		return nil, fmt.Errorf("start wasm instance %s: no host", fid)
	}
	switch n := len(spec.Binary); {
	case n == 0:
		return nil, fmt.Errorf("start wasm instance %s: class %q has no binary (the workflow's code must name a .wasm file): %w", fid, spec.ClassID, ErrBadModule)
	case n > r.cfg.MaxModuleBytes:
		return nil, fmt.Errorf("start wasm instance %s: module of %d bytes exceeds the limit of %d: %w", fid, n, r.cfg.MaxModuleBytes, ErrBadModule)
	}
	i := newInstance(r, spec, nodeU, fnU)
	if err := r.register(i); err != nil {
		return nil, err
	}
	defer r.starts.Done()
	if err := i.start(ctx); err != nil {
		i.abandon()
		r.instances.CompareAndDelete(i.id, i)
		return nil, err
	}
	return i, nil
}

func (r *Runtime) register(i *Instance) error {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return fmt.Errorf("start wasm instance %s: %w", i.id.FunctionID, contract.ErrRuntimeClosed)
	}
	if _, loaded := r.instances.LoadOrStore(i.id, i); loaded {
		return fmt.Errorf("start wasm instance %s: %w", i.id.FunctionID, contract.ErrDuplicateInstance)
	}
	r.starts.Add(1)
	return nil
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

// Close stops every instance (cutting short the Starts in flight), then
// releases the compiled modules and the wazero runtime. Start fails with contract.ErrRuntimeClosed afterwards.
func (r *Runtime) Close(ctx context.Context) error {
	r.life.Lock()
	r.closed = true
	r.life.Unlock()
	r.closeAll()
	var wg sync.WaitGroup
	r.instances.Range(func(_, v any) bool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = v.(*Instance).Stop(ctx)
		}()
		return true
	})
	wg.Wait()
	r.starts.Wait()
	return r.wz.Close(context.WithoutCancel(ctx))
}

// moduleConfig is the configuration of each module instance: anonymous (so
// one compiled module instantiates many times), Go's reactor initializer
// run if present, real clocks and randomness for WASI, output to the log.
func (i *Instance) moduleConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithStdout(i.logs.writer("stdout")).
		WithStderr(i.logs.writer("stderr")).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
}
