package dataplane

import (
	"errors"
	"log/slog"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultCallTimeout        = 60 * time.Second
	DefaultQueueSize          = 1024
	DefaultSendTimeout        = 5 * time.Second
	DefaultMaxConcurrentCalls = 64
	DefaultQueueBytes         = 64 << 20
	DefaultAdmissionWaiters   = 64
)

// Config configures a Dataplane.
type Config struct {
	// NodeID is this node's UUID; events whose target has this node id are
	// delivered locally.
	NodeID string
	// CallTimeout bounds a call from send to reply, and the delivery of one
	// event to a local receiver (default 60s).
	CallTimeout time.Duration
	// QueueSize is the number of events that may wait for one instance
	// (default 1024).
	QueueSize int
	// QueueBytes bounds the payload bytes (plus a small overhead per
	// event) that may wait for one instance, so that a full queue of large
	// events cannot exhaust the node's memory (default 64 MiB). A sender
	// waits for room as for a full queue; an event larger than the whole
	// budget is refused at once.
	QueueBytes int64
	// Logger receives the data plane's logs (default slog.Default()).
	Logger *slog.Logger
	// SendTimeout bounds one send to a peer, and how long a sender waits for
	// space in a full queue when its ctx allows longer (default 5s).
	SendTimeout time.Duration
	// MaxConcurrentCalls bounds the calls delivered at once to one instance
	// (default 64).
	MaxConcurrentCalls int
	// MaxPayloadBytes bounds the events the FunctionInvocation server reads
	// and the peer clients send and read; larger ones are refused with
	// RESOURCE_EXHAUSTED (default transport.DefaultPayloadMaxBytes).
	// Upstream has no limit.
	MaxPayloadBytes int
	// Transport is the peers' client transport: TLS when it carries a
	// client config (then http:// peer URLs are dialled with TLS too, and
	// https:// ones are accepted); the zero value is plain-text h2c.
	Transport transport.Config
	// MaxQueueDelay sizes each instance's cast queue in time: a cast is
	// refused (ErrQueueFull, RESOURCE_EXHAUSTED on the wire; at once, or
	// after MaxAdmissionWait) when the casts ahead of it (queued and in
	// delivery) would likely take longer than this to deliver, at a
	// cautious cost per cast measured from the instance's recent service
	// times and queue waits (see castWait). It bounds the time accepted
	// casts wait in the queue (their delivery comes on top), and pushes
	// back on senders in milliseconds instead of holding seconds of work.
	// Zero: only QueueSize bounds the queue.
	MaxQueueDelay time.Duration
	// MaxAdmissionWait turns MaxQueueDelay's refusals into push-back: a
	// cast the estimate would refuse waits instead, first come first
	// served per instance, until the estimate admits it, at most this
	// long; then it is refused as without it. A cast that arrives while
	// others wait for the instance waits behind them. Zero (the default):
	// refused at once.
	MaxAdmissionWait time.Duration
	// MaxAdmissionWaiters bounds the casts waiting for admission to one
	// instance (default 64); beyond it a cast is refused at once. Waiting
	// casts hold their bytes of the instance's QueueBytes.
	MaxAdmissionWaiters int
	// ObserveAdmissionWait, when set, is given the time each cast waited
	// for admission (casts admitted at once are not reported), and
	// whether it was admitted in the end.
	ObserveAdmissionWait func(d time.Duration, admitted bool)
	// ObserveCastWait, when set, is given the time each cast waited in its
	// instance's queue before its delivery began (the node exports it as a
	// histogram). It is called by the instance's cast worker and must be
	// cheap.
	ObserveCastWait func(time.Duration)
}

func (c Config) withDefaults() Config {
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.MaxConcurrentCalls <= 0 {
		c.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if c.MaxAdmissionWaiters <= 0 {
		c.MaxAdmissionWaiters = DefaultAdmissionWaiters
	}
	if c.MaxPayloadBytes <= 0 {
		c.MaxPayloadBytes = transport.DefaultPayloadMaxBytes
	}
	c.NodeID = canonUUID(c.NodeID)
	return c
}

// Errors returned by the data plane; check them with errors.Is. Those about
// the destination also match the runtime contract's sentinels (noted
// below), which is all the runtime's GuestAPIHost server needs to give them
// their wire code; the FunctionInvocation server maps them to gRPC codes
// itself. The data plane builds no gRPC codes anywhere else.
var (
	// ErrUnknownInstance: no instance with the target id is registered on
	// the target node (NOT_FOUND on the wire; contract.ErrUnknownDestination).
	ErrUnknownInstance error = destError{"unknown instance", contract.ErrUnknownDestination}
	// ErrUnknownPeer: the target's node is neither this node nor a known
	// peer, or the peer was removed while a call waited
	// (contract.ErrUnknownDestination).
	ErrUnknownPeer error = destError{"unknown peer node", contract.ErrUnknownDestination}
	// ErrQueueFull: the target instance's queue stayed full until the
	// sender's deadline (RESOURCE_EXHAUSTED on the wire;
	// contract.ErrOverloaded).
	ErrQueueFull error = destError{"instance queue full", contract.ErrOverloaded}
	// ErrUnregistered: the instance was unregistered while the event waited
	// (contract.ErrUnknownDestination).
	ErrUnregistered error = destError{"instance unregistered", contract.ErrUnknownDestination}
	// ErrWrongNode: an incoming event targets another node
	// (INVALID_ARGUMENT on the wire).
	ErrWrongNode = errors.New("event for another node")
	// ErrMalformedEvent: an incoming event lacks a required field or has an
	// invalid one (INVALID_ARGUMENT on the wire).
	ErrMalformedEvent = errors.New("malformed event")
	// ErrForgedSource: an event from the network claims an instance of
	// this node as its source (this node's events never come back to it
	// over the network).
	ErrForgedSource = errors.New("event from the network with a source on this node")
)

// destError is a data-plane sentinel that also matches the contract
// sentinel kind under errors.Is.
type destError struct {
	msg  string
	kind error
}

func (e destError) Error() string { return e.msg }

// Is reports whether target is the contract sentinel e belongs to.
func (e destError) Is(target error) bool { return target == e.kind }
