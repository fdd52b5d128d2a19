package guest

import (
	"context"
	"errors"
	"fmt"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/google/uuid"
)

// Function is what a function author implements. The SDK calls Init once
// per boot, then Cast and Call concurrently (see the package documentation
// for the limit), then Stop once.
type Function interface {
	// Init prepares the instance. host is the handle to the node for this
	// life of the instance; keep it to send events. payload is the
	// function's init-payload annotation (may be empty) and state the state
	// saved earlier with Host.Sync (nil if none). An error moves the
	// instance to the Error state.
	Init(ctx context.Context, host *Host, payload string, state []byte) error
	// Cast handles a one-way event from src.
	Cast(ctx context.Context, src InstanceID, msg []byte) error
	// Call handles an event from src that expects an answer: a reply
	// (ReplyMsg), no reply (NoReply) or an error (answered CALL_RET_ERR).
	Call(ctx context.Context, src InstanceID, msg []byte) (Reply, error)
	// Stop releases what Init acquired. It runs after the events in flight
	// have finished or were cancelled. An error moves the instance to the
	// Error state.
	Stop(ctx context.Context) error
}

// InstanceID identifies a function instance: the node hosting it and the
// instance's own UUID, both in hyphenated text form.
type InstanceID struct {
	NodeID     string
	FunctionID string
}

// String returns "NODE_ID/FUNCTION_ID".
func (id InstanceID) String() string { return id.NodeID + "/" + id.FunctionID }

func (id InstanceID) proto() *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: id.NodeID, FunctionId: id.FunctionID}
}

// validate checks that both parts are UUIDs, as the node requires.
func (id InstanceID) validate() error {
	if err := uuid.Validate(id.NodeID); err != nil {
		return fmt.Errorf("node_id %q is not a UUID: %w", id.NodeID, err)
	}
	if err := uuid.Validate(id.FunctionID); err != nil {
		return fmt.Errorf("function_id %q is not a UUID: %w", id.FunctionID, err)
	}
	return nil
}

func instanceIDFrom(p *edgelessapi.InstanceId) InstanceID {
	return InstanceID{NodeID: p.GetNodeId(), FunctionID: p.GetFunctionId()}
}

// Reply is the answer to a call: a message, or no reply. The zero Reply is
// "no reply". A failed call is an error, never a Reply.
type Reply struct {
	msg    []byte
	hasMsg bool
}

// ReplyMsg returns a Reply carrying msg (CALL_RET_REPLY).
func ReplyMsg(msg []byte) Reply { return Reply{msg: msg, hasMsg: true} }

// NoReply returns the Reply that carries nothing (CALL_RET_NO_REPLY).
func NoReply() Reply { return Reply{} }

// Msg returns the reply message and true, or nil and false for no reply.
func (r Reply) Msg() ([]byte, bool) { return r.msg, r.hasMsg }

// String describes the reply for logs and test failures.
func (r Reply) String() string {
	if !r.hasMsg {
		return "no reply"
	}
	return fmt.Sprintf("reply %q", r.msg)
}

// ErrCallFailed is matched (with errors.Is) by the error that Host.Call and
// Host.CallRaw return when the callee answered CALL_RET_ERR.
var ErrCallFailed = errors.New("call failed")

// CallError is the error Host.Call and Host.CallRaw return when the callee
// answered CALL_RET_ERR. Returning it from Function.Call passes the failure
// on as CALL_RET_ERR.
type CallError struct {
	// Msg is the message that came with CALL_RET_ERR, often empty.
	Msg []byte
}

// Error implements error.
func (e *CallError) Error() string {
	if len(e.Msg) == 0 {
		return "call failed: callee answered CALL_RET_ERR"
	}
	return fmt.Sprintf("call failed: callee answered CALL_RET_ERR: %q", e.Msg)
}

// Is makes errors.Is(err, ErrCallFailed) true.
func (e *CallError) Is(target error) bool { return target == ErrCallFailed }

// replyFromProto converts a CallReturn received from the host.
func replyFromProto(r *edgelessapi.CallReturn) (Reply, error) {
	switch r.GetType() {
	case edgelessapi.CallRetType_CALL_RET_NO_REPLY:
		return NoReply(), nil
	case edgelessapi.CallRetType_CALL_RET_REPLY:
		return ReplyMsg(r.GetMsg()), nil
	case edgelessapi.CallRetType_CALL_RET_ERR:
		return Reply{}, &CallError{Msg: r.GetMsg()}
	default:
		return Reply{}, fmt.Errorf("host answered unknown CallRetType %d", r.GetType())
	}
}
