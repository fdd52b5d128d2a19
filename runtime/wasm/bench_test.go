package wasm

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/tetratelabs/wazero"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// The benchmark compares the runtime with floors measured in the same run,
// interleaved so that both see the same machine state:
//
//	go test -run '^$' -bench . -benchtime 2000x ./wasm/
//
// Cold start: Runtime.Start (cache lookup, instantiate, init) of a cached
// module against a bare wazero InstantiateModule of the same compiled
// module. Round trip: a cast that makes one host call (guest -> host ->
// guest) and a call with a reply, against a bare call of an exported
// function that does nothing (edgeless_mem_free).

type durations []time.Duration

func (s durations) p(q float64) time.Duration {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[min(int(q*float64(len(c))), len(c)-1)]
}

func ratio(a, b time.Duration) string { return fmt.Sprintf("%.1fx", float64(a)/float64(b)) }

func BenchmarkWasm(b *testing.B) {
	ctx := context.Background()
	r := newTestRuntime(b, Config{})
	bins := map[string][]byte{"probe (wat)": probe(b), "wasmexample (Go)": goExampleModule(b)}
	type row struct {
		what           string
		p50, p90       time.Duration
		floor50, floor string
	}
	var rows []row
	for _, name := range []string{"probe (wat)", "wasmexample (Go)"} {
		bin := bins[name]
		compiled, err := r.cache.get(ctx, bin) // warm the cache
		if err != nil {
			b.Fatal(err)
		}
		var start, bare durations
		for range b.N {
			t0 := time.Now()
			inst, err := r.Start(ctx, contract.StartSpec{ID: newID(), Binary: bin, Host: discardHost{}})
			start = append(start, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			_ = inst.Stop(ctx)
			t0 = time.Now()
			m, err := r.wz.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize"))
			bare = append(bare, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			_ = m.Close(ctx)
		}
		rows = append(rows, row{"cold start " + name, start.p(.5), start.p(.9), bare.p(.5).String(), ratio(start.p(.5), bare.p(.5))})
	}

	inst, err := r.Start(ctx, contract.StartSpec{ID: newID(), Binary: bins["probe (wat)"], Host: discardHost{}})
	if err != nil {
		b.Fatal(err)
	}
	i := inst.(*Instance)
	src := newID()
	noop := i.mod.ExportedFunction("edgeless_mem_free")
	var cast, call, bare durations
	for range b.N {
		t0 := time.Now()
		if err := i.Cast(ctx, src, []byte("cpayload")); err != nil {
			b.Fatal(err)
		}
		cast = append(cast, time.Since(t0))
		t0 = time.Now()
		if _, err := i.Call(ctx, src, []byte("epayload")); err != nil {
			b.Fatal(err)
		}
		call = append(call, time.Since(t0))
		t0 = time.Now()
		if _, err := noop.Call(ctx, 0, 0); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(t0))
	}
	rows = append(rows,
		row{"cast with one host cast (probe)", cast.p(.5), cast.p(.9), bare.p(.5).String(), ratio(cast.p(.5), bare.p(.5))},
		row{"call with reply (probe)", call.p(.5), call.p(.9), bare.p(.5).String(), ratio(call.p(.5), bare.p(.5))})

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nRUST_WASM runtime, %d samples each\t p50\t p90\t floor p50\t ratio\t\n", b.N)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t %s\t %s\t %s\t %s\t\n", r.what, r.p50, r.p90, r.floor50, r.floor)
	}
	fmt.Fprintln(w, "floors: bare wazero InstantiateModule of the cached compiled module; a bare call of an empty export\t\t\t\t\t")
	w.Flush()
}

// discardHost is a contract.Host that drops everything.
type discardHost struct{}

func (discardHost) Cast(context.Context, string, []byte) error                 { return nil }
func (discardHost) CastRaw(context.Context, contract.InstanceID, []byte) error { return nil }
func (discardHost) Call(context.Context, string, []byte) (contract.Reply, error) {
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil
}
func (discardHost) CallRaw(context.Context, contract.InstanceID, []byte) (contract.Reply, error) {
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil
}
func (discardHost) Sync(context.Context, []byte) error                                          { return nil }
func (discardHost) TelemetryLog(context.Context, edgelessapi.TelemetryLogLevel, string, string) {}
