package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Call return values of the ABI (CallRet).
const (
	callNoReply = 0
	callReply   = 1
	callErr     = 2
)

// hostFunc is one import of module "env".
type hostFunc struct {
	params, results []api.ValueType
	fn              func(ev *event, m api.Module, stack []uint64)
}

// hostFunctions are upstream's eight host functions (wasm-abi.md §3).
var hostFunctions = map[string]hostFunc{
	"cast_raw_asm":      {[]api.ValueType{i32, i32, i32, i32}, nil, castRaw},
	"cast_asm":          {[]api.ValueType{i32, i32, i32, i32}, nil, castAlias},
	"call_raw_asm":      {[]api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}, callRaw},
	"call_asm":          {[]api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}, callAlias},
	"telemetry_log_asm": {[]api.ValueType{i32, i32, i32, i32, i32}, nil, telemetryLog},
	"slf_asm":           {[]api.ValueType{i32, i32}, nil, slf},
	"delayed_cast_asm":  {[]api.ValueType{i64, i32, i32, i32, i32}, nil, delayedCast},
	"sync_asm":          {[]api.ValueType{i32, i32}, nil, syncState},
}

// hostModule builds module "env". Each function finds its instance and the
// event being handled in the context of the guest call.
func hostModule(wz wazero.Runtime) wazero.HostModuleBuilder {
	b := wz.NewHostModuleBuilder("env")
	for name, h := range hostFunctions {
		b = b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				ev, _ := ctx.Value(eventKey{}).(*event)
				if ev == nil {
					panic(trapf("%s called outside an event (e.g. from the module's start function)", name))
				}
				h.fn(ev, m, stack)
			}), h.params, h.results).
			Export(name)
	}
	return b
}

// trapError is a host-side trap: the guest call ends with it.
type trapError struct{ msg string }

func (e *trapError) Error() string { return e.msg }

func trapf(format string, args ...any) *trapError {
	return &trapError{msg: fmt.Sprintf(format, args...)}
}

// read copies memory[ptr, ptr+n) out of the guest, trapping when out of range.
func read(m api.Module, ptr, n uint32, what string) []byte {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(trapf("%s at [%d, %d+%d) is outside memory (%d bytes)", what, ptr, ptr, n, m.Memory().Size()))
	}
	return bytes.Clone(b)
}

// readString reads a guest string (an alias or log target).
func readString(m api.Module, ptr, n uint32, what string) string {
	return string(read(m, ptr, n, what))
}

// readID reads an InstanceId passed as two 16-byte UUIDs.
func readID(m api.Module, nodePtr, compPtr uint32) contract.InstanceID {
	n := uuid.UUID(read(m, nodePtr, 16, "node id"))
	c := uuid.UUID(read(m, compPtr, 16, "component id"))
	return contract.InstanceID{NodeID: n.String(), FunctionID: c.String()}
}

func castAlias(ev *event, m api.Module, s []uint64) {
	alias := readString(m, uint32(s[0]), uint32(s[1]), "cast target")
	msg := read(m, uint32(s[2]), uint32(s[3]), "cast payload")
	ev.i.sendCast(ev.ctx, alias, func(ctx context.Context) error { return ev.i.spec.Host.Cast(ctx, alias, msg) })
}

func castRaw(ev *event, m api.Module, s []uint64) {
	dst := readID(m, uint32(s[0]), uint32(s[1]))
	msg := read(m, uint32(s[2]), uint32(s[3]), "cast payload")
	ev.i.sendCast(ev.ctx, dst.FunctionID, func(ctx context.Context) error { return ev.i.spec.Host.CastRaw(ctx, dst, msg) })
}

// sendCast sends a cast; a failure is logged (and an unknown alias
// counted), never a trap: a cast has no answer.
func (i *Instance) sendCast(ctx context.Context, target string, send func(context.Context) error) {
	err := send(ctx)
	switch {
	case err == nil:
	case errors.Is(err, contract.ErrUnknownAlias):
		i.dropCast(target)
	default:
		i.log.Warn("cast failed", slog.String("target", target), slog.Any("error", err))
	}
}

func callAlias(ev *event, m api.Module, s []uint64) {
	alias := readString(m, uint32(s[0]), uint32(s[1]), "call target")
	msg := read(m, uint32(s[2]), uint32(s[3]), "call payload")
	s[0] = uint64(ev.call(m, uint32(s[4]), uint32(s[5]), func(ctx context.Context) (contract.Reply, error) {
		return ev.i.spec.Host.Call(ctx, alias, msg)
	}))
}

func callRaw(ev *event, m api.Module, s []uint64) {
	dst := readID(m, uint32(s[0]), uint32(s[1]))
	msg := read(m, uint32(s[2]), uint32(s[3]), "call payload")
	s[0] = uint64(ev.call(m, uint32(s[4]), uint32(s[5]), func(ctx context.Context) (contract.Reply, error) {
		return ev.i.spec.Host.CallRaw(ctx, dst, msg)
	}))
}

// call makes a blocking call for the guest. While it waits, the guest is
// suspended and the instance takes other events (see doc.go); a Stop
// makes it return Err at once, as upstream does. On Reply it allocates the
// reply in guest memory (re-entering edgeless_mem_alloc) and writes its
// pointer and length, 4 bytes each, at the guest's out-parameters.
func (ev *event) call(m api.Module, outPtr, outLen uint32, do func(context.Context) (contract.Reply, error)) uint32 {
	i := ev.i
	if ev.ex == nil {
		panic(trapf("call made while the module starts"))
	}
	ctx, cancel := context.WithCancel(ev.ctx)
	stopWatch := context.AfterFunc(i.stopCtx, cancel)
	i.suspend()
	r, err := do(ctx)
	stopWatch()
	cancel()
	if rerr := i.resume(ev.ctx, ev.depth); rerr != nil {
		panic(rerr)
	}
	switch {
	case i.stopCtx.Err() != nil:
		return callErr
	case err != nil:
		i.log.Debug("call failed", slog.Any("error", err))
		return callErr
	}
	switch r.Type {
	case edgelessapi.CallRetType_CALL_RET_REPLY:
	case edgelessapi.CallRetType_CALL_RET_NO_REPLY:
		return callNoReply
	default:
		return callErr
	}
	n := uint32(len(r.Msg))
	if uint64(len(r.Msg)) != uint64(n) {
		panic(trapf("reply of %d bytes does not fit the guest", len(r.Msg)))
	}
	res, err := ev.ex.allocIn.Call(ev.ctx, uint64(n))
	if err != nil {
		panic(err)
	}
	p := uint32(res[0])
	mem := m.Memory()
	if !mem.Write(p, r.Msg) {
		panic(trapf("edgeless_mem_alloc(%d) returned %d, outside memory (%d bytes)", n, p, mem.Size()))
	}
	if !mem.WriteUint32Le(outPtr, p) || !mem.WriteUint32Le(outLen, n) {
		panic(trapf("call out-parameters at %d, %d are outside memory (%d bytes)", outPtr, outLen, mem.Size()))
	}
	return callReply
}

// logLevels maps the ABI's levels 1-5 to the API's.
var logLevels = [...]edgelessapi.TelemetryLogLevel{
	1: edgelessapi.TelemetryLogLevel_LOG_ERROR,
	2: edgelessapi.TelemetryLogLevel_LOG_WARN,
	3: edgelessapi.TelemetryLogLevel_LOG_INFO,
	4: edgelessapi.TelemetryLogLevel_LOG_DEBUG,
	5: edgelessapi.TelemetryLogLevel_LOG_TRACE,
}

func telemetryLog(ev *event, m api.Module, s []uint64) {
	lv := int32(uint32(s[0]))
	target := readString(m, uint32(s[1]), uint32(s[2]), "log target")
	msg := readString(m, uint32(s[3]), uint32(s[4]), "log message")
	level := edgelessapi.TelemetryLogLevel_LOG_ERROR
	if lv >= 1 && lv <= 5 {
		level = logLevels[lv]
	} else {
		ev.i.log.Warn("telemetry_log_asm: unknown level, logged as error", slog.Int("level", int(lv)))
	}
	target, msg = strings.ToValidUTF8(target, "\uFFFD"), strings.ToValidUTF8(msg, "\uFFFD")
	ev.i.logs.add("telemetry", level.String()+" "+target+": "+msg)
	ev.i.spec.Host.TelemetryLog(ev.ctx, level, target, msg)
}

func slf(ev *event, m api.Module, s []uint64) {
	mem := m.Memory()
	if !mem.Write(uint32(s[0]), ev.i.nodeU[:]) || !mem.Write(uint32(s[1]), ev.i.fnU[:]) {
		panic(trapf("slf_asm out-parameters at %d, %d are outside memory (%d bytes)", uint32(s[0]), uint32(s[1]), mem.Size()))
	}
}

func delayedCast(ev *event, m api.Module, s []uint64) {
	delay := s[0]
	alias := readString(m, uint32(s[1]), uint32(s[2]), "delayed cast target")
	msg := read(m, uint32(s[3]), uint32(s[4]), "delayed cast payload")
	if err := ev.i.scheduleDelayedCast(ev.ctx, alias, msg, delay); err != nil {
		ev.i.log.Warn("delayed cast dropped", slog.String("alias", alias), slog.Any("error", err))
	}
}

func syncState(ev *event, m api.Module, s []uint64) {
	state := read(m, uint32(s[0]), uint32(s[1]), "state")
	if err := ev.i.spec.Host.Sync(ev.ctx, state); err != nil {
		ev.i.log.Warn("sync failed", slog.Any("error", err))
	}
}
