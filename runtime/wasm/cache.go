package wasm

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// CacheStats are the compiled-module cache's counters.
type CacheStats struct {
	// Compiles counts modules compiled (cache misses that compiled).
	Compiles int64
	// Hits counts Starts that found their module compiled.
	Hits int64
	// Modules is how many compiled modules the cache holds.
	Modules int
}

// moduleCache holds compiled modules by the SHA-256 of their binary, least
// recently used first out. Concurrent Starts of one binary compile it once.
type moduleCache struct {
	wz    wazero.Runtime
	limit int

	mu      sync.Mutex
	entries map[[32]byte]*list.Element // of *cacheEntry
	lru     list.List                  // front: most recently used
	st      CacheStats
}

type cacheEntry struct {
	key   [32]byte
	ready chan struct{} // closed once mod or err is set
	mod   wazero.CompiledModule
	err   error
}

func newModuleCache(wz wazero.Runtime, limit int) *moduleCache {
	return &moduleCache{wz: wz, limit: limit, entries: map[[32]byte]*list.Element{}}
}

func (c *moduleCache) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.Modules = c.lru.Len()
	return s
}

// get returns the compiled module of bin, compiling and checking it on a
// miss. A module that fails to compile or check is not kept.
func (c *moduleCache) get(ctx context.Context, bin []byte) (wazero.CompiledModule, error) {
	key := sha256.Sum256(bin)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.st.Hits++
		c.mu.Unlock()
		select {
		case <-e.ready:
			return e.mod, e.err
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for module compilation: %w", ctx.Err())
		}
	}
	e := &cacheEntry{key: key, ready: make(chan struct{})}
	c.entries[key] = c.lru.PushFront(e)
	c.st.Compiles++
	var evicted []*cacheEntry
	for c.lru.Len() > c.limit {
		old := c.lru.Back()
		oe := old.Value.(*cacheEntry)
		c.lru.Remove(old)
		delete(c.entries, oe.key)
		evicted = append(evicted, oe)
	}
	c.mu.Unlock()
	for _, oe := range evicted {
		go func() {
			// Instances made from it keep working: wazero lets a compiled
			// module close under its live instances.
			<-oe.ready
			if oe.mod != nil {
				_ = oe.mod.Close(context.Background())
			}
		}()
	}

	// Compile with a context that the first caller's cancellation does not
	// cut short: others may be waiting for the same module.
	mod, err := c.wz.CompileModule(context.WithoutCancel(ctx), bin)
	if err != nil {
		err = fmt.Errorf("compile module: %v: %w", err, ErrBadModule)
	} else if err = checkABI(mod); err != nil {
		_ = mod.Close(ctx)
		mod = nil
	}
	e.mod, e.err = mod, err
	close(e.ready)
	if err != nil {
		c.mu.Lock()
		if el, ok := c.entries[key]; ok && el.Value == e {
			c.lru.Remove(el)
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	return mod, err
}

// The guest exports upstream's host calls, with their signatures.
var requiredExports = map[string]struct{ params, results []api.ValueType }{
	"edgeless_mem_alloc": {[]api.ValueType{i32}, []api.ValueType{i32}},
	"edgeless_mem_free":  {[]api.ValueType{i32, i32}, nil},
	"edgeless_mem_clear": {nil, nil},
	"handle_init_asm":    {[]api.ValueType{i32, i32, i32, i32}, nil},
	"handle_cast_asm":    {[]api.ValueType{i32, i32, i32, i32}, nil},
	"handle_call_asm":    {[]api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}},
	"handle_stop_asm":    {nil, nil},
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// checkABI checks that mod has upstream's exports with their exact
// signatures and a memory named "memory", and imports only from "env"
// (upstream's host functions) and "wasi_snapshot_preview1".
func checkABI(mod wazero.CompiledModule) error {
	if _, ok := mod.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("module exports no memory named \"memory\": %w", ErrBadModule)
	}
	fns := mod.ExportedFunctions()
	for name, want := range requiredExports {
		f, ok := fns[name]
		if !ok {
			return fmt.Errorf("module does not export function %s: %w", name, ErrBadModule)
		}
		if !sameTypes(f.ParamTypes(), want.params) || !sameTypes(f.ResultTypes(), want.results) {
			return fmt.Errorf("module exports %s%s, want %s: %w", name, signature(f.ParamTypes(), f.ResultTypes()),
				signature(want.params, want.results), ErrBadModule)
		}
	}
	for _, f := range mod.ImportedFunctions() {
		m, n, _ := f.Import()
		switch m {
		case "wasi_snapshot_preview1":
		case "env":
			want, ok := hostFunctions[n]
			if !ok {
				return fmt.Errorf("module imports env.%s, which is not a host function of the EDGELESS ABI: %w", n, ErrBadModule)
			}
			if !sameTypes(f.ParamTypes(), want.params) || !sameTypes(f.ResultTypes(), want.results) {
				return fmt.Errorf("module imports env.%s%s, want %s: %w", n, signature(f.ParamTypes(), f.ResultTypes()),
					signature(want.params, want.results), ErrBadModule)
			}
		default:
			return fmt.Errorf("module imports %s.%s: only env and wasi_snapshot_preview1 are provided: %w", m, n, ErrBadModule)
		}
	}
	for _, m := range mod.ImportedMemories() {
		mm, n, _ := m.Import()
		return fmt.Errorf("module imports memory %s.%s: none is provided: %w", mm, n, ErrBadModule)
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func signature(params, results []api.ValueType) string {
	s := "("
	for k, p := range params {
		if k > 0 {
			s += ", "
		}
		s += api.ValueTypeName(p)
	}
	s += ") -> ("
	for k, r := range results {
		if k > 0 {
			s += ", "
		}
		s += api.ValueTypeName(r)
	}
	return s + ")"
}
