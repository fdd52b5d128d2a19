// Package dataplane delivers events between function instances: to
// instances on this node, and to instances on peer nodes through the
// FunctionInvocation service (upstream's edgeless_dataplane, wire-compatible).
//
// # Wire format
//
// Events match upstream exactly (edgeless.md §7). A cast carries stream_id 0
// and EventType CAST. A call carries EventType CALL and a stream id drawn from
// a per-source counter that starts at a random value (below 2^62, so that
// it cannot be guessed); the callee answers to the call's
// source with the same stream id and CALL_RET (payload), CALL_NO_RET or ERR,
// with created = 0/0. On receipt any other reply type decodes as ERR. Every
// event we send carries target, source, msg, created and metadata (a 16-byte
// trace id and an 8-byte span id), because upstream unwraps all of them.
// Payloads are proto strings on the wire: a payload bound for a peer must be
// valid UTF-8 (otherwise an error wrapping contract.ErrInvalidPayload);
// local delivery passes bytes through unchanged. A reply that cannot be
// carried (non-UTF-8) reaches a remote caller as ERR.
//
// # Incoming events (FunctionInvocation.Handle)
//
// Handle validates the event (target and source present with UUIDs, msg
// present, metadata lengths 16 and 8 when set; created and metadata may be
// absent) and answers INVALID_ARGUMENT otherwise. An event whose
// target.node_id is not this node is also INVALID_ARGUMENT: the sender
// addressed the wrong server, which no retry can fix. An event whose source
// is on this node is PERMISSION_DENIED (ErrForgedSource): this node's own
// events never come back over the network. A cast or call for an
// instance this node does not host is NOT_FOUND (and a call additionally
// gets an ERR reply event, so that upstream callers, which ignore the RPC
// status, are answered too). A full queue is RESOURCE_EXHAUSTED. Replies
// complete the pending call keyed by (target instance, stream_id), and only
// if their source is the instance the call was sent to: a reply from anyone
// else is counted (RepliesRefused) and dropped, as is a reply nobody waits
// for (e.g. after the caller's deadline).
// Handle returns as soon as the event is queued: a call's result travels
// back as a separate reply event, as upstream does.
//
// # Delivery and ordering
//
// Each registered instance has two bounded queues (Config.QueueSize each),
// one for casts and one for calls, each with its worker goroutine. Casts
// are delivered one at a time in arrival order, each bounded by
// Config.CallTimeout. Calls are started in arrival order, each on its own
// goroutine, at most Config.MaxConcurrentCalls at once per instance: a call
// waits neither for the casts nor for the calls before it to finish. This is
// what prevents upstream's nested-call deadlock: when A's handler (of a call
// or of a cast) calls B and B calls back into A, the inner call to A is
// delivered while A's outer handler is still running. At the concurrency
// bound the call worker waits for a slot; the call deadlines break any cycle
// that could form there. Casts keep their order among themselves; a call
// may overtake a cast queued before it.
//
// Events that arrive before Attach wait in the queue and are delivered once
// the receiver is attached.
//
// # Back-pressure
//
// Nothing grows without bound. A sender whose target queue is full waits for
// space until its ctx is done or Config.SendTimeout passes, then gets an
// error wrapping ErrQueueFull (RESOURCE_EXHAUSTED on the wire, mapped back
// to ErrQueueFull by a Go sender). Sends to peers are synchronous with a
// deadline (Config.SendTimeout), so a slow peer slows its senders instead of
// filling a buffer. Per instance, at most QueueSize events wait and
// MaxConcurrentCalls calls run. Config.MaxQueueDelay also sizes the cast
// queues in time: a cast that would likely wait longer than that is not
// queued (see castWait). With Config.MaxAdmissionWait it waits for
// admission instead, first come first served per instance (a cast that
// finds others waiting waits behind them), at most that long and with at
// most MaxAdmissionWaiters waiting, holding its queue bytes; a cast that is
// still not admitted then, or finds the waiters at their bound, is refused
// (ErrQueueFull), as it is at once without MaxAdmissionWait. A sender
// (a peer's Handle, a function's Cast) thus waits while the instance
// catches up instead of retrying. A cast of an instance to itself is never
// held.
//
// # Calls
//
// Every call has a deadline: Config.CallTimeout (default 60s) or the
// caller's ctx, whichever is sooner (upstream waits forever). A call that is
// still waiting fails at once when its caller or callee is unregistered
// (ErrUnregistered) or when the peer node of its callee is removed
// (ErrUnknownPeer).
//
// # Errors
//
// The package's sentinels (ErrUnknownInstance, ErrUnknownPeer, ErrQueueFull,
// ErrUnregistered, and contract.ErrUnknownAlias/ErrInvalidPayload) are
// wrapped with context and checked with errors.Is. Those about the
// destination also match the runtime contract's kinds: a full queue is a
// contract.ErrOverloaded, an unknown or vanished destination a
// contract.ErrUnknownDestination. The data plane builds gRPC codes only
// at its own RPC edge, the FunctionInvocation server (grpc-go,
// NewGRPCServer); the runtime's
// GuestAPIHost server gives the contract errors their codes for the
// instances (RESOURCE_EXHAUSTED and NOT_FOUND).
//
// The data plane is the event half of the contract.Host a node gives an
// instance: the agent combines a Mailbox with the state store (Sync) and
// telemetry (TelemetryLog).
//
// # Peers
//
// AddPeer only validates the URL and builds a grpc-go client (h2c, or TLS
// with Config.Transport); the connection is made lazily by the first send, so AddPeer never
// blocks (upstream retries forever inside the agent loop). DelPeer and
// ClearPeers (which upstream does not implement) drop peers and close their
// idle connections. No lock is held across I/O: the registry and the pending
// calls have their own mutexes, held only for map operations.
package dataplane
