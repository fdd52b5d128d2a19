// Package guest is the SDK for writing an EDGELESS container function in Go.
//
// A function is a value that implements [Function]. [Run] serves it as the
// EDGELESS GuestAPIFunction service (gRPC over plain-text HTTP/2 with
// grpc-go, as upstream's nodes and ours call it; Connect and gRPC-Web over
// HTTP/1.1 on the same port, e.g. for curl) on port 7101, or on the port
// given by the -port flag or the PORT environment variable, and exits
// cleanly on SIGTERM:
//
//	func main() {
//		if err := guest.Run(context.Background(), &myFunction{}, os.Args[1:], os.Getenv); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//	}
//
// # Life cycle
//
// The node drives an instance through the upstream EDGELESS state machine:
//
//	PreBooted --Boot--> Booted --Init--> Initialized --Stop--> Stopped
//	                                      |  ^
//	                                      Cast, Call
//
// Boot names the node's GuestAPIHost endpoint and the instance's own id. The
// SDK parses the endpoint, opens a gRPC connection (grpc-go, h2c) to the
// host and only then answers, so a successful Boot means the host is
// reachable. Init calls
// [Function.Init] with a [Host] handle, the init payload and any state saved
// earlier with [Host.Sync]. Cast and Call are accepted only in Initialized.
// Stop stops accepting events, drains those in flight and calls
// [Function.Stop].
//
// A command that arrives in the wrong state is refused with the gRPC code
// FAILED_PRECONDITION and a message naming the current state; it does not
// change the state (the Python template moves to Error instead, which lets a
// stray command kill a healthy instance).
//
// The state becomes Error when [Function.Init] or [Function.Stop] fails or
// panics. Error is terminal: the process must be restarted. A Boot that
// fails (bad BootData: INVALID_ARGUMENT; host unreachable: UNAVAILABLE)
// leaves the state unchanged, so the node may retry it.
//
// Re-boot: Boot is accepted in PreBooted and in Stopped. Booting a stopped
// instance starts a new life for the process (useful for a function server
// that outlives its instance, as with the node's "grpc:" debug form): the
// old host connection is closed and [Function.Init] is called again with a
// new [Host]. A Boot repeated in Booted with the same BootData is answered
// OK, so a node may safely retry a Boot whose answer it lost; with other
// data it is FAILED_PRECONDITION.
//
// # The instance secret
//
// The Go node sends a per-instance secret in the SecretHeader request
// header (gRPC metadata "edgeless-instance-secret": gRPC keys are
// lower-case) on every call, from Boot on. When Boot carried one, a later
// request without the same value is refused with PERMISSION_DENIED, so a
// process that is not the node cannot drive the function; a Boot after
// Stop may bring a new secret. A node that sends none (upstream's) is
// served as before.
//
// # Concurrency
//
// Cast and Call run concurrently, up to Options.MaxConcurrency at a time
// (default 64); further events wait for a slot until their deadline. Serial
// handling, as in the upstream templates, deadlocks nested calls (A calls B,
// which calls A back), so [Function.Cast] and [Function.Call] must be safe
// for concurrent use. Init, Stop and Boot never overlap each other. Stop
// first waits for the events in flight; after Options.ShutdownGrace it
// cancels their contexts and waits for them to return, so it overlaps Cast
// or Call only with a handler that ignores its context past the Stop
// command's own deadline.
//
// # Errors and panics
//
// An error returned by [Function.Call] is answered as CALL_RET_ERR with the
// error text as message. An error from [Function.Cast] is answered with the
// gRPC code INTERNAL. A panic in author code is recovered, logged with its
// stack and answered as an error; the instance stays up.
//
// # Host calls
//
// Every [Host] method takes a context. When it has no deadline the SDK adds
// Options.HostTimeout (default 30s), so no host call can hang forever.
// Payloads are bytes and are passed through unchanged, UTF-8 or not.
package guest
