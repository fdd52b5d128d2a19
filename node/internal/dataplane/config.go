package dataplane

import (
	"errors"
	"log/slog"
	"math"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultCallTimeout        = 60 * time.Second
	DefaultQueueSize          = 1024
	DefaultSendTimeout        = 5 * time.Second
	DefaultMaxConcurrentCalls = 64
)

// MaxMessageBytes is the largest event the FunctionInvocation server and the
// peer clients read. Upstream sets no limit (usize::MAX); we take the largest
// size a protobuf message can have.
const MaxMessageBytes = math.MaxInt32

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
	// Logger receives the data plane's logs (default slog.Default()).
	Logger *slog.Logger
	// SendTimeout bounds one send to a peer, and how long a sender waits for
	// space in a full queue when its ctx allows longer (default 5s).
	SendTimeout time.Duration
	// MaxConcurrentCalls bounds the calls delivered at once to one instance
	// (default 64).
	MaxConcurrentCalls int
}

func (c Config) withDefaults() Config {
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
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
	c.NodeID = canonUUID(c.NodeID)
	return c
}

// Errors returned by the data plane; check them with errors.Is. The
// FunctionInvocation server maps them to connect codes.
var (
	// ErrUnknownInstance: no instance with the target id is registered on
	// the target node (NOT_FOUND on the wire).
	ErrUnknownInstance = errors.New("unknown instance")
	// ErrUnknownPeer: the target's node is neither this node nor a known
	// peer, or the peer was removed while a call waited.
	ErrUnknownPeer = errors.New("unknown peer node")
	// ErrQueueFull: the target instance's queue stayed full until the
	// sender's deadline (RESOURCE_EXHAUSTED on the wire).
	ErrQueueFull = errors.New("instance queue full")
	// ErrUnregistered: the instance was unregistered while the event waited.
	ErrUnregistered = errors.New("instance unregistered")
	// ErrWrongNode: an incoming event targets another node
	// (INVALID_ARGUMENT on the wire).
	ErrWrongNode = errors.New("event for another node")
	// ErrMalformedEvent: an incoming event lacks a required field or has an
	// invalid one (INVALID_ARGUMENT on the wire).
	ErrMalformedEvent = errors.New("malformed event")
)
