// Package wasmguest is the SDK for EDGELESS functions written in Go and run
// as WebAssembly modules by a node's RUST_WASM runtime. It speaks upstream
// EDGELESS's WASM guest ABI (the exports handle_init_asm, handle_cast_asm,
// handle_call_asm, handle_stop_asm and edgeless_mem_*, and the host imports
// cast_asm, call_asm, ... from module "env"), and offers the same shape of
// API as the container template's package guest: a Function with Init,
// Cast, Call and Stop, and a Host handle with Cast, CastRaw, Call, CallRaw,
// DelayedCast, Sync, TelemetryLog and ID.
//
// A function registers itself in an init function and is built as a WASI
// reactor module:
//
//	func init() { wasmguest.Register(&myFunction{}) }
//	func main() {}
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fn.wasm .
//
// Go's wasip1 port imports WASI preview 1, which this project's node
// provides (through wazero) and upstream's Rust node does not: modules built
// with this package run on this project's node only. Functions written in
// Rust for upstream's ABI run on both.
//
// Handlers run one at a time, on the goroutine of the export the node
// called. A handler must not block waiting for another goroutine (the Go
// runtime runs other goroutines only while an export is active); use
// DelayedCast for work later. While a handler waits in Call or CallRaw the
// node may deliver another event (for example a call back from the callee);
// its handler runs to completion before the waiting Call returns. A panic
// in a handler is recovered: it is logged through TelemetryLog at error
// level, and a Call answers Err.
//
// Outside GOOS=wasip1 the package builds (so that functions can be vetted
// and unit-tested with a fake of their own) but every Host method returns
// ErrNotWasm.
package wasmguest
