//go:build wasip1

package wasmguest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/google/uuid"
)

// The host functions of upstream's ABI (module "env").

//go:wasmimport env cast_asm
func castAsm(target unsafe.Pointer, targetLen uint32, payload unsafe.Pointer, payloadLen uint32)

//go:wasmimport env cast_raw_asm
func castRawAsm(node, comp, payload unsafe.Pointer, payloadLen uint32)

//go:wasmimport env call_asm
func callAsm(target unsafe.Pointer, targetLen uint32, payload unsafe.Pointer, payloadLen uint32, outPtr, outLen unsafe.Pointer) uint32

//go:wasmimport env call_raw_asm
func callRawAsm(node, comp, payload unsafe.Pointer, payloadLen uint32, outPtr, outLen unsafe.Pointer) uint32

//go:wasmimport env telemetry_log_asm
func telemetryLogAsm(level uint32, target unsafe.Pointer, targetLen uint32, msg unsafe.Pointer, msgLen uint32)

//go:wasmimport env slf_asm
func slfAsm(node, comp unsafe.Pointer)

//go:wasmimport env delayed_cast_asm
func delayedCastAsm(delayMs uint64, target unsafe.Pointer, targetLen uint32, payload unsafe.Pointer, payloadLen uint32)

//go:wasmimport env sync_asm
func syncAsm(data unsafe.Pointer, dataLen uint32)

// pinned keeps the blocks handed to the host reachable (Go's heap does not
// move, but would collect them), by address.
var pinned = map[uint32][]byte{}

// replies are reply blocks handed to the host by handle_call_asm; the host
// copies a reply out at once and never frees it, so they are freed when
// the next export is entered.
var replies []uint32

func addr(p unsafe.Pointer) uint32 { return uint32(uintptr(p)) }

// pin allocates n bytes that stay put and reachable until unpin.
func pin(n uint32) []byte {
	b := make([]byte, max(n, 1))
	pinned[addr(unsafe.Pointer(unsafe.SliceData(b)))] = b
	return b[:n]
}

func unpin(b []byte) { delete(pinned, addr(unsafe.Pointer(unsafe.SliceData(b[:1])))) }

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func str(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

//go:wasmexport edgeless_mem_alloc
func memAlloc(n uint32) unsafe.Pointer { return ptr(pin(n)[:max(n, 1)]) }

//go:wasmexport edgeless_mem_free
func memFree(p unsafe.Pointer, _ uint32) { delete(pinned, addr(p)) }

//go:wasmexport edgeless_mem_clear
func memClear() { freeReplies() }

func freeReplies() {
	for _, p := range replies {
		delete(pinned, p)
	}
	replies = replies[:0]
}

// in copies a block the host passed (nil when n is 0).
func in(p unsafe.Pointer, n uint32) []byte {
	if n == 0 || p == nil {
		return nil
	}
	return bytes.Clone(unsafe.Slice((*byte)(p), n))
}

func hostCast(alias string, msg []byte) error {
	castAsm(str(alias), uint32(len(alias)), ptr(msg), uint32(len(msg)))
	return nil
}

func hostCastRaw(node, fn uuid.UUID, msg []byte) error {
	castRawAsm(unsafe.Pointer(&node[0]), unsafe.Pointer(&fn[0]), ptr(msg), uint32(len(msg)))
	return nil
}

// callResult turns a call's return value and out-parameters into a Reply.
func callResult(ret uint32, slots []byte) (Reply, error) {
	switch ret {
	case 0:
		return NoReply(), nil
	case 1:
	default:
		return Reply{}, ErrCallFailed
	}
	p, n := binary.LittleEndian.Uint32(slots), binary.LittleEndian.Uint32(slots[4:])
	b, ok := pinned[p]
	if !ok || uint32(cap(b)) < n {
		return Reply{}, fmt.Errorf("%w: the host answered with a block at %d that it did not allocate", ErrCallFailed, p)
	}
	delete(pinned, p)
	return ReplyMsg(bytes.Clone(b[:n:n])), nil
}

func hostCall(alias string, msg []byte) (Reply, error) {
	slots := pin(8)
	defer unpin(slots)
	ret := callAsm(str(alias), uint32(len(alias)), ptr(msg), uint32(len(msg)), ptr(slots), ptr(slots[4:]))
	return callResult(ret, slots)
}

func hostCallRaw(node, fn uuid.UUID, msg []byte) (Reply, error) {
	slots := pin(8)
	defer unpin(slots)
	ret := callRawAsm(unsafe.Pointer(&node[0]), unsafe.Pointer(&fn[0]), ptr(msg), uint32(len(msg)), ptr(slots), ptr(slots[4:]))
	return callResult(ret, slots)
}

func hostDelayedCast(delayMs uint64, alias string, msg []byte) error {
	delayedCastAsm(delayMs, str(alias), uint32(len(alias)), ptr(msg), uint32(len(msg)))
	return nil
}

func hostSync(state []byte) error {
	syncAsm(ptr(state), uint32(len(state)))
	return nil
}

func hostLog(level LogLevel, target, msg string) error {
	telemetryLogAsm(uint32(level), str(target), uint32(len(target)), str(msg), uint32(len(msg)))
	return nil
}

func self() InstanceID {
	b := pin(32)
	defer unpin(b)
	slfAsm(ptr(b), ptr(b[16:]))
	return idFromRaw(b[:16], b[16:])
}

var host *Host

// guard runs a handler, logging its error or panic at error level.
func guard(what string, f func() error) (failed bool) {
	defer func() {
		if r := recover(); r != nil {
			_ = hostLog(LogError, "wasmguest", fmt.Sprintf("%s panicked: %v", what, r))
			failed = true
		}
	}()
	if registered == nil {
		_ = hostLog(LogError, "wasmguest", what+": no function registered (call wasmguest.Register in an init function)")
		return true
	}
	if err := f(); err != nil {
		_ = hostLog(LogError, "wasmguest", fmt.Sprintf("%s: %v", what, err))
		return true
	}
	return false
}

//go:wasmexport handle_init_asm
func handleInit(payload unsafe.Pointer, payloadLen uint32, state unsafe.Pointer, stateLen uint32) {
	freeReplies()
	host = &Host{id: self()}
	p, s := string(in(payload, payloadLen)), in(state, stateLen)
	guard("init", func() error { return registered.Init(context.Background(), host, p, s) })
}

//go:wasmexport handle_cast_asm
func handleCast(node, comp, payload unsafe.Pointer, payloadLen uint32) {
	freeReplies()
	src := idFromRaw(in(node, 16), in(comp, 16))
	msg := in(payload, payloadLen)
	guard("cast", func() error { return registered.Cast(context.Background(), src, msg) })
}

//go:wasmexport handle_call_asm
func handleCall(node, comp, payload unsafe.Pointer, payloadLen uint32, outPtr, outLen unsafe.Pointer) uint32 {
	freeReplies()
	src := idFromRaw(in(node, 16), in(comp, 16))
	msg := in(payload, payloadLen)
	var r Reply
	if guard("call", func() (err error) { r, err = registered.Call(context.Background(), src, msg); return err }) {
		return 2
	}
	m, ok := r.Msg()
	if !ok {
		return 0
	}
	b := pin(uint32(len(m)))
	copy(b, m)
	p := addr(ptr(b[:max(len(b), 1)]))
	replies = append(replies, p)
	*(*uint32)(outPtr) = p
	*(*uint32)(outLen) = uint32(len(m))
	return 1
}

//go:wasmexport handle_stop_asm
func handleStop() {
	freeReplies()
	guard("stop", func() error { return registered.Stop(context.Background()) })
}
