package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/lograte"
)

// reject counts and logs an incoming event acceptEvent refused, and
// returns the code to answer. Anyone who reaches the invocation port can
// send bad events at will: every one is counted (EventsRejected), but the
// log gets at most one line per reason per rateInterval, with the count
// of the events since the previous line.
func (d *Dataplane) reject(ctx context.Context, err error) codes.Code {
	d.stats.rejected.Add(1)
	code := codeOf(err)
	// Pushing back on an overloaded instance is routine and counted in the
	// metrics; a warning each time would flood the log under load.
	level := slog.LevelWarn
	if code == codes.ResourceExhausted {
		level = slog.LevelDebug
	}
	// Under load most refusals are a full queue, at debug level: build the
	// line's arguments (the peer's address is a new string) only when the
	// line may be written.
	if !d.log.Enabled(ctx, level) {
		return code
	}
	reason := reasonOf(err)
	d.logRated(ctx, level, "reject: "+reason, "reject incoming event", "reason", reason, "code", code.String(),
		"peer", peerAddr(ctx), "err", err)
	return code
}

// logRated logs msg at level, unless a line of the same kind was logged
// within the last rateInterval: then it only counts it, and the next line
// of that kind carries the count ("events": the occurrences since the
// previous line, that one included). Peers trigger these lines; the
// metrics count every occurrence.
func (d *Dataplane) logRated(ctx context.Context, level slog.Level, kind, msg string, args ...any) {
	if !d.log.Enabled(ctx, level) {
		return
	}
	if due, n := d.rated.Note(kind, time.Now()); due {
		d.log.Log(ctx, level, msg, append(args, "events", n, "next_line_in", d.rateInterval())...)
	}
}

// rateInterval is the least time between two lines of one kind.
func (d *Dataplane) rateInterval() time.Duration {
	if d.rated.Interval > 0 {
		return d.rated.Interval
	}
	return lograte.Every
}

// peerAddr is the address of the peer that sent the request of ctx ("" when
// unknown).
func peerAddr(ctx context.Context) string {
	if p, ok := grpcpeer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// reasonOf names the reason an incoming event was refused, one of a few
// fixed strings (the rate limit keeps one line per reason).
func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrMalformedEvent):
		return "malformed event"
	case errors.Is(err, ErrWrongNode):
		return "wrong target node"
	case errors.Is(err, ErrForgedSource):
		return "forged source"
	case errors.Is(err, ErrUnknownInstance):
		return "unknown instance"
	case errors.Is(err, ErrUnregistered):
		return "unregistered instance"
	case errors.Is(err, ErrQueueFull):
		return "queue full"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "other"
	}
}

func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, ErrMalformedEvent), errors.Is(err, ErrWrongNode):
		return codes.InvalidArgument
	case errors.Is(err, ErrForgedSource):
		return codes.PermissionDenied
	case errors.Is(err, ErrUnknownInstance), errors.Is(err, ErrUnregistered):
		return codes.NotFound
	case errors.Is(err, ErrQueueFull):
		return codes.ResourceExhausted
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	default:
		return codes.Internal
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
