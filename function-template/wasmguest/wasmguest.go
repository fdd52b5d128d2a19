package wasmguest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Function is what a function author implements. The node calls Init once,
// then Cast and Call for each event, then Stop.
type Function interface {
	// Init receives the host handle, the init payload ("" when absent) and
	// the saved state (nil when absent). An error is logged at error level.
	Init(ctx context.Context, host *Host, payload string, state []byte) error
	// Cast handles a cast from src. An error is logged at error level.
	Cast(ctx context.Context, src InstanceID, msg []byte) error
	// Call handles a call from src and returns the reply; an error answers
	// the caller with Err.
	Call(ctx context.Context, src InstanceID, msg []byte) (Reply, error)
	// Stop is called when the instance is being stopped.
	Stop(ctx context.Context) error
}

// InstanceID identifies a function instance: its node and its own UUID, in
// hyphenated text form.
type InstanceID struct {
	NodeID     string
	FunctionID string
}

// String returns "node/function".
func (id InstanceID) String() string { return id.NodeID + "/" + id.FunctionID }

// raw returns the two 16-byte UUIDs of id.
func (id InstanceID) raw() (node, fn uuid.UUID, err error) {
	if node, err = uuid.Parse(id.NodeID); err != nil {
		return node, fn, fmt.Errorf("instance id: node id %q: %w", id.NodeID, err)
	}
	if fn, err = uuid.Parse(id.FunctionID); err != nil {
		return node, fn, fmt.Errorf("instance id: function id %q: %w", id.FunctionID, err)
	}
	return node, fn, nil
}

func idFromRaw(node, fn []byte) InstanceID {
	return InstanceID{NodeID: uuid.UUID(node).String(), FunctionID: uuid.UUID(fn).String()}
}

// Reply is a call's answer: a message, or no reply.
type Reply struct {
	msg    []byte
	hasMsg bool
}

// ReplyMsg returns a reply carrying msg.
func ReplyMsg(msg []byte) Reply { return Reply{msg: msg, hasMsg: true} }

// NoReply returns the answer "nothing to reply".
func NoReply() Reply { return Reply{} }

// Msg returns the reply's message and whether there is one.
func (r Reply) Msg() ([]byte, bool) { return r.msg, r.hasMsg }

// LogLevel is a telemetry log level.
type LogLevel int32

// The log levels of the ABI.
const (
	LogError LogLevel = 1
	LogWarn  LogLevel = 2
	LogInfo  LogLevel = 3
	LogDebug LogLevel = 4
	LogTrace LogLevel = 5
)

// Errors returned by Host.
var (
	// ErrCallFailed: the callee answered Err, or the call could not be
	// made (unknown alias, unreachable target, the instance stopping).
	ErrCallFailed = errors.New("call failed")
	// ErrNotWasm: the package was built for a platform other than
	// GOOS=wasip1, where there is no node to talk to.
	ErrNotWasm = errors.New("wasmguest: not running as a wasip1 module")
)

// Host is the handle to the node, given to Init. Its methods may be used
// from handlers only (they call into the node synchronously).
type Host struct {
	id InstanceID
}

// ID returns the instance's own id.
func (h *Host) ID() InstanceID { return h.id }

// Cast sends msg to the target mapped to alias ("self" is the instance).
// The ABI gives casts no answer: a cast to an unmapped alias is dropped by
// the node.
func (h *Host) Cast(_ context.Context, alias string, msg []byte) error {
	return hostCast(alias, msg)
}

// CastRaw sends msg to the instance dst.
func (h *Host) CastRaw(_ context.Context, dst InstanceID, msg []byte) error {
	node, fn, err := dst.raw()
	if err != nil {
		return err
	}
	return hostCastRaw(node, fn, msg)
}

// Call sends msg to the target mapped to alias and waits for the reply.
// An Err answer is ErrCallFailed.
func (h *Host) Call(_ context.Context, alias string, msg []byte) (Reply, error) {
	return hostCall(alias, msg)
}

// CallRaw sends msg to the instance dst and waits for the reply.
func (h *Host) CallRaw(_ context.Context, dst InstanceID, msg []byte) (Reply, error) {
	node, fn, err := dst.raw()
	if err != nil {
		return Reply{}, err
	}
	return hostCallRaw(node, fn, msg)
}

// DelayedCast casts msg to alias after delay (millisecond resolution).
func (h *Host) DelayedCast(_ context.Context, alias string, delay time.Duration, msg []byte) error {
	if delay < 0 {
		return fmt.Errorf("delayed cast to %q: negative delay %s", alias, delay)
	}
	return hostDelayedCast(uint64(delay/time.Millisecond), alias, msg)
}

// Sync saves state as the instance's state; the node passes it to Init of
// a later instance of the same function.
func (h *Host) Sync(_ context.Context, state []byte) error { return hostSync(state) }

// TelemetryLog records a log line at level under target.
func (h *Host) TelemetryLog(_ context.Context, level LogLevel, target, msg string) error {
	if level < LogError || level > LogTrace {
		return fmt.Errorf("telemetry log: level %d: want 1 (error) to 5 (trace)", level)
	}
	return hostLog(level, target, msg)
}

var registered Function

// Register makes f the module's function. Call it once, from an init
// function of package main.
func Register(f Function) {
	if registered != nil {
		panic("wasmguest: Register called twice")
	}
	registered = f
}
