// Package wasm runs RUST_WASM function instances in-process on wazero (pure
// Go, no cgo), with upstream EDGELESS's guest ABI: functions built for
// upstream's node (Rust, edgeless_function) run unchanged. It implements
// contract.Runtime and contract.Instance.
//
// # ABI
//
// The module comes in StartSpec.Binary (FunctionClassSpecification.binary).
// It must export memory "memory" and edgeless_mem_alloc, edgeless_mem_free,
// edgeless_mem_clear, handle_init_asm, handle_cast_asm, handle_call_asm and
// handle_stop_asm with upstream's signatures, and may import upstream's eight
// host functions from "env" (cast_asm, cast_raw_asm, call_asm, call_raw_asm,
// delayed_cast_asm, sync_asm, slf_asm, telemetry_log_asm) and WASI preview 1
// (which Go-built modules need; upstream's node has no WASI). A module that
// does not fit is refused at Start with ErrBadModule naming the export or
// import. Host call sequences follow upstream's wasmtime runner: copies in
// through edgeless_mem_alloc, freed with edgeless_mem_free; a call's reply is
// copied out before the next guest call; replies to the guest's own calls
// are allocated in the guest (re-entering edgeless_mem_alloc) and their
// pointer and length are written as 4-byte little-endian values (upstream
// writes 8 bytes for the length). A module exporting _initialize (Go's
// reactor modules) has it called once at instantiation.
//
// # Modules and instances
//
// Compiled modules are cached by the SHA-256 of their bytes (Config.CacheSize
// most recently used), so a second Start of a class only instantiates;
// concurrent Starts of a new module compile it once. Each instance has its
// own module instance and linear memory. Start returns after
// handle_init_asm has returned, or with the reason it could not.
//
// # Events and concurrency
//
// A module instance is not reentrant, so one event at a time runs guest code.
// Upstream serialises every event of an instance for its whole duration, so
// an instance that calls out and is called back (A -> B -> A) deadlocks
// there. Here, while the guest waits in call_asm or call_raw_asm, the
// instance takes the next event (the nested call, or any other event); the
// waiting event resumes once every event that entered after it has left the
// guest, because the guest's shadow stack is last in, first out. A -> B -> A
// therefore completes, and otherwise events run one at a time in arrival
// order. edgeless_mem_clear runs before an event only when no other event is
// inside the guest, so that a no_std guest's arena is not reset under a
// waiting event's buffers.
//
// # Limits upstream lacks
//
//   - Config.MaxModuleBytes bounds the module's size.
//   - Config.MaxMemoryPages caps each instance's memory: memory.grow past it
//     returns -1 to the guest, and a module whose minimum is larger is
//     refused.
//   - Config.InitTimeout bounds instantiation plus init, Config.CallTimeout
//     each cast and call (including the calls the guest makes meanwhile):
//     a guest still running at the deadline (an endless loop) is stopped
//     and the instance ends with reason "deadline exceeded". The caller's
//     own cancellation does not cut a guest short.
//   - Config.MaxDelayedCasts bounds the delayed casts waiting per instance;
//     they are dropped when the instance ends.
//
// # Errors
//
// A trap (unreachable, out-of-range pointer handed to a host function, the
// deadline, a WASI exit) ends the instance: its module instance is closed,
// the event that hit it fails with ErrInstanceEnded and the reason, OnExit is
// called with the reason (state exited) and later events fail. During Start
// the same is Start's error instead. Unlike upstream, nothing panics and
// nothing is silent: a cast to an unknown alias is dropped, logged and
// counted (Info.DroppedCasts); a call to an unknown alias, a failed call and
// a call cut by Stop return Err (2) to the guest (upstream traps on an
// unknown alias); a delayed cast to an unknown alias is dropped when it is
// due (upstream traps at once). Payloads are bytes end to end: a non-UTF-8
// payload or state is passed on as is (the host decides whether its peer can
// carry it); log targets and text are made valid UTF-8.
//
// # Event metadata and logs
//
// Host calls made while an event is handled get that event's context, so
// values the node attaches to it (trace metadata) reach the events it
// emits; delayed casts keep them too. Telemetry log lines go to
// Host.TelemetryLog and into the instance's log (stream "telemetry"), with
// what a WASI module writes to stdout and stderr.
package wasm
