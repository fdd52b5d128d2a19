package wasm

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

func TestRuntime_ModuleCache(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{CacheSize: 2})
	bin := probe(t)
	start := func(b []byte) *Instance {
		t.Helper()
		h := newRecHost()
		inst, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: b, Host: h})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return inst.(*Instance)
	}
	// Concurrent Starts of one binary compile it once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { start(bin) })
	}
	wg.Wait()
	if d := cmp.Diff(CacheStats{Compiles: 1, Hits: 3, Modules: 1}, r.Stats()); d != "" {
		t.Errorf("after 4 Starts of one module (-want +got):\n%s", d)
	}
	// Each instance has its own memory.
	a, b := start(bin), start(bin)
	if err := a.Cast(t.Context(), newID(), []byte{'g', 3}); err != nil {
		t.Fatal(err)
	}
	if pa, pb := a.mod.Memory().Size(), b.mod.Memory().Size(); pa == pb {
		t.Errorf("memory sizes %d and %d after growing one instance, want different", pa, pb)
	}
	// Other binaries evict the least recently used beyond CacheSize.
	other1 := []byte(strings.Replace(string(probeOnce.src), `(data (i32.const 40) "probe")`, `(data (i32.const 40) "prob1")`, 1))
	other2 := []byte(strings.Replace(string(probeOnce.src), `(data (i32.const 40) "probe")`, `(data (i32.const 40) "prob2")`, 1))
	start(wat(t, string(other1)))
	start(wat(t, string(other2)))
	start(bin) // evicted: compiled again
	if got := r.Stats(); got.Compiles != 4 || got.Modules != 2 {
		t.Errorf("Stats() = %+v, want 4 compiles and 2 modules kept", got)
	}
}

func TestRuntime_BadModules(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{MaxModuleBytes: 4096})
	probe(t) // sets probeOnce.src
	src := string(probeOnce.src)
	tests := []struct {
		name string
		bin  []byte
		want string
	}{
		{"empty binary", nil, "has no binary"},
		{"too large", make([]byte, 5000), "exceeds the limit of 4096"},
		{"not wasm", []byte("\x00asm garbage"), "compile module"},
		{"missing export", wat(t, strings.Replace(src, `(func (export "handle_stop_asm")`, `(func`, 1)), "does not export function handle_stop_asm"},
		{"wrong signature", wat(t, strings.Replace(src, `(func (export "edgeless_mem_free") (param i32 i32))`, `(func (export "edgeless_mem_free") (param i32))`, 1)), "edgeless_mem_free(i32) -> (), want (i32, i32) -> ()"},
		{"unknown env import", wat(t, strings.Replace(src, `"env" "sync_asm"`, `"env" "fork_asm"`, 1)), "env.fork_asm, which is not a host function"},
		{"wrong import signature", wat(t, strings.NewReplacer(`"env" "sync_asm" (func $sync (param i32 i32))`, `"env" "sync_asm" (func $sync (param i32 i32 i32))`,
			`(call $sync (local.get $a) (local.get $al))`, `(call $sync (local.get $a) (local.get $al) (i32.const 0))`).Replace(src)), "env.sync_asm(i32, i32, i32) -> ()"},
		{"other import module", wat(t, strings.Replace(src, `"env" "sync_asm"`, `"host" "sync_asm"`, 1)), "imports host.sync_asm: only env and wasi_snapshot_preview1"},
		{"no memory", wat(t, `(module (func (export "edgeless_mem_alloc") (param i32) (result i32) i32.const 0))`), `no memory named "memory"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), ClassID: "bad", Binary: tt.bin, Host: newRecHost()})
			if !errors.Is(err, ErrBadModule) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want ErrBadModule saying %q", err, tt.want)
			}
		})
	}
	if n := len(r.Instances()); n != 0 {
		t.Errorf("%d instances registered after failed Starts, want 0", n)
	}
	if got := r.Stats().Modules; got != 0 {
		t.Errorf("%d bad modules kept in the cache, want 0", got)
	}
}

func TestRuntime_StartFailures(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	probe(t)
	src := string(probeOnce.src)
	trapInit := wat(t, strings.Replace(src, `(func (export "handle_init_asm") (param $pp i32) (param $pl i32) (param $sp i32) (param $sl i32)`,
		`(func (export "handle_init_asm") (param $pp i32) (param $pl i32) (param $sp i32) (param $sl i32) unreachable`, 1))
	exited := false
	_, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: trapInit, Host: newRecHost(),
		OnExit: func(contract.ExitInfo) { exited = true }})
	if !isEnded(err) || !strings.Contains(err.Error(), "init") || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("Start with a trapping init = %v, want ErrInstanceEnded naming init and the trap", err)
	}
	if exited {
		t.Error("OnExit called for a failed Start (Start's error reports it)")
	}
	loopInit := wat(t, strings.Replace(src, `(func (export "handle_init_asm") (param $pp i32) (param $pl i32) (param $sp i32) (param $sl i32)`,
		`(func (export "handle_init_asm") (param $pp i32) (param $pl i32) (param $sp i32) (param $sl i32) (loop $l (br $l))`, 1))
	r2 := newTestRuntime(t, Config{InitTimeout: 200 * time.Millisecond})
	if _, err := r2.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: loopInit, Host: newRecHost()}); !isEnded(err) || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("Start with an endless init = %v, want deadline exceeded", err)
	}
	for _, bad := range []contract.InstanceID{{NodeID: "x", FunctionID: newID().FunctionID}, {NodeID: newID().NodeID, FunctionID: ""}} {
		if _, err := r.Start(t.Context(), contract.StartSpec{ID: bad, Binary: probe(t), Host: newRecHost()}); err == nil {
			t.Errorf("Start with id %+v succeeded, want an error", bad)
		}
	}
	id := newID()
	h := newRecHost()
	if _, err := r.Start(t.Context(), contract.StartSpec{ID: id, Binary: probe(t), Host: h}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(t.Context(), contract.StartSpec{ID: id, Binary: probe(t), Host: h}); !errors.Is(err, contract.ErrDuplicateInstance) {
		t.Errorf("second Start of one id = %v, want ErrDuplicateInstance", err)
	}
	if n := len(r.Instances()); n != 1 {
		t.Errorf("%d instances, want 1", n)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Instances()); n != 0 {
		t.Errorf("%d instances after Close, want 0", n)
	}
	if _, err := r.Start(t.Context(), contract.StartSpec{ID: newID(), Binary: probe(t), Host: h}); !errors.Is(err, contract.ErrRuntimeClosed) {
		t.Errorf("Start after Close = %v, want ErrRuntimeClosed", err)
	}
}

// Close while an instance is still starting: its Start fails and nothing
// is left.
func TestRuntime_CloseDuringStart(t *testing.T) {
	t.Parallel()
	probe(t)
	loopInit := wat(t, strings.Replace(string(probeOnce.src), `(func (export "handle_init_asm") (param $pp i32) (param $pl i32) (param $sp i32) (param $sl i32)`,
		`(func (export "handle_init_asm") (param $pp i32) (param $pl i32) (param $sp i32) (param $sl i32) (loop $l (br $l))`, 1))
	r := newTestRuntime(t, Config{InitTimeout: 500 * time.Millisecond})
	errc := make(chan error, 1)
	go func() {
		_, err := r.Start(context.Background(), contract.StartSpec{ID: newID(), Binary: loopInit, Host: newRecHost()})
		errc <- err
	}()
	for len(r.Instances()) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err == nil {
		t.Error("Start during Close succeeded, want an error")
	}
	if n := len(r.Instances()); n != 0 {
		t.Errorf("%d instances after Close, want 0", n)
	}
}
