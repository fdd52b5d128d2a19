package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// Handler returns the FunctionInvocation service as a connect-go handler,
// to mount on the node's invocation_url server (gRPC, gRPC-Web and
// Connect). RegisterGRPC offers the same service on grpc-go.
func (d *Dataplane) Handler() (string, http.Handler) {
	return edgelessapiconnect.NewFunctionInvocationHandler(&invocationServer{d: d},
		transport.HandlerOptions(d.cfg.MaxPayloadBytes)...)
}

// invocationServer is the RPC edge: it maps the data plane's errors to
// connect codes.
type invocationServer struct{ d *Dataplane }

var _ edgelessapiconnect.FunctionInvocationHandler = (*invocationServer)(nil)

// Handle accepts one event from a peer.
func (s *invocationServer) Handle(ctx context.Context, ev *edgelessapi.Event) (*emptypb.Empty, error) {
	if err := s.d.acceptEvent(ctx, ev); err != nil {
		return nil, connect.NewError(s.d.reject(ctx, err), err)
	}
	return &emptypb.Empty{}, nil
}

// reject counts and logs an incoming event acceptEvent refused, and
// returns the code to answer.
func (d *Dataplane) reject(ctx context.Context, err error) connect.Code {
	d.stats.rejected.Add(1)
	code := codeOf(err)
	// Pushing back on an overloaded instance is routine and counted in the
	// metrics; a warning each time would flood the log under load.
	level := slog.LevelWarn
	if code == connect.CodeResourceExhausted {
		level = slog.LevelDebug
	}
	d.log.Log(ctx, level, "reject incoming event", "code", code.String(), "err", err)
	return code
}

func codeOf(err error) connect.Code {
	switch {
	case errors.Is(err, ErrMalformedEvent), errors.Is(err, ErrWrongNode):
		return connect.CodeInvalidArgument
	case errors.Is(err, ErrForgedSource):
		return connect.CodePermissionDenied
	case errors.Is(err, ErrUnknownInstance), errors.Is(err, ErrUnregistered):
		return connect.CodeNotFound
	case errors.Is(err, ErrQueueFull):
		return connect.CodeResourceExhausted
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled
	default:
		return connect.CodeInternal
	}
}

// acceptEvent validates an incoming event and queues it for its target, or
// completes the call it answers.
func (d *Dataplane) acceptEvent(ctx context.Context, ev *edgelessapi.Event) error {
	in, err := decodeEvent(ev)
	if err != nil {
		return err
	}
	if in.target.NodeID != d.nodeID {
		return fmt.Errorf("target node %s, this is node %s: %w", in.target.NodeID, d.nodeID, ErrWrongNode)
	}
	if in.source.NodeID == d.nodeID {
		return fmt.Errorf("%s event from %s: %w", in.typ, in.source.FunctionID, ErrForgedSource)
	}
	switch in.typ {
	case edgelessapi.EventType_CAST:
		err := d.deliverLocal(ctx, in.target, delivery{typ: in.typ, src: in.source, msg: in.payload, meta: in.meta})
		if err != nil {
			d.stats.castsDropped.Add(1)
			return fmt.Errorf("cast %s/%s -> %s: %w", in.source.NodeID, in.source.FunctionID, in.target.FunctionID, err)
		}
		return nil
	case edgelessapi.EventType_CALL:
		it := delivery{typ: in.typ, src: in.source, stream: in.stream, msg: in.payload,
			deadline: time.Now().Add(d.cfg.CallTimeout), meta: in.meta}
		if err := d.deliverLocal(ctx, in.target, it); err != nil {
			// Upstream callers ignore the RPC status: answer them too.
			d.stats.callsFailed.Add(1)
			d.sendReply(in.target, in.source, in.stream, callResult{err: err}, in.meta)
			return fmt.Errorf("call %s/%s -> %s (stream %d): %w", in.source.NodeID, in.source.FunctionID, in.target.FunctionID, in.stream, err)
		}
		return nil
	default:
		d.completeCall(in.source, in.target, in.stream, callResult{reply: replyFromEvent(in.typ, in.payload)})
		return nil
	}
}
