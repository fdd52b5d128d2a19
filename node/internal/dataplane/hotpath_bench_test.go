package dataplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// The micro-benchmarks of the node's own logic between its RPC edges (no
// network): what one event costs in the data plane, in ns/op and allocs/op
// (run with -benchmem). They show the effect of changes to the hot path
// within one run; the floor of each is the bare hand-off it contains.

// signalReceiver answers every event at once and signals each cast.
type signalReceiver struct{ done chan struct{} }

func (r signalReceiver) Cast(context.Context, contract.InstanceID, []byte) error {
	r.done <- struct{}{}
	return nil
}

func (r signalReceiver) Call(_ context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: msg}, nil
}

// discardLogger logs at the node's default level, into nothing.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func benchDataplane(b *testing.B) (*Dataplane, *Mailbox, signalReceiver) {
	d := newTestDataplane(b, Config{})
	d.log = discardLogger()
	r := signalReceiver{done: make(chan struct{}, 1)}
	h := d.Register(contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()})
	h.Attach(r)
	return d, h, r
}

// BenchmarkAcceptCast is one incoming cast from a peer after the RPC edge
// has decoded it: validation, conversion, the queue and the worker's
// delivery to the receiver, one at a time.
func BenchmarkAcceptCast(b *testing.B) {
	d, h, r := benchDataplane(b)
	src := &edgelessapi.InstanceId{NodeId: uuid.NewString(), FunctionId: uuid.NewString()}
	ev := &edgelessapi.Event{
		Target:   &edgelessapi.InstanceId{NodeId: d.NodeID(), FunctionId: h.ID().FunctionID},
		Source:   src,
		Msg:      &edgelessapi.EventData{EventType: edgelessapi.EventType_CAST, Payload: "lg 1 2 3 1234567890"},
		Created:  &edgelessapi.EventTimestamp{},
		Metadata: &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, 16), SpanId: make([]byte, 8)},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.acceptEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
		<-r.done
	}
}

// BenchmarkLocalCall is a call between two instances of one node, until
// the caller has the reply: pending-call bookkeeping, the call queue, the
// call worker and the reply's return.
func BenchmarkLocalCall(b *testing.B) {
	d, h, _ := benchDataplane(b)
	caller := d.Register(contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()})
	caller.Attach(signalReceiver{done: make(chan struct{}, 1)})
	caller.SetAliases(map[string]contract.InstanceID{"out": h.ID()})
	ctx := context.Background()
	msg := []byte("ping")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := caller.Call(ctx, "out", msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventConversion is building the wire event of a cast to a peer
// from what an instance sends (the part of a remote cast that is ours).
func BenchmarkEventConversion(b *testing.B) {
	src := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	dst := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	msg := []byte("lg 1 2 3 1234567890")
	b.ReportAllocs()
	for b.Loop() {
		ev := newEvent(src, dst, 0, edgelessapi.EventType_CAST, msg, rootMetadata(spanCastAlias))
		if ev.GetMsg() == nil {
			b.Fatal("no msg")
		}
	}
}

// BenchmarkRejectQueueFull is the node's own part of refusing an incoming
// cast whose instance's queue is full (under load, about one refusal per
// delivered event): counting it and answering its code, with the log at
// the node's default level, where such lines are not written.
func BenchmarkRejectQueueFull(b *testing.B) {
	d, _, _ := benchDataplane(b)
	ctx := grpcpeer.NewContext(context.Background(), &grpcpeer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
	err := fmt.Errorf("cast a/b -> c: %w", ErrQueueFull)
	b.ReportAllocs()
	for b.Loop() {
		if d.reject(ctx, err) != codes.ResourceExhausted {
			b.Fatal("not RESOURCE_EXHAUSTED")
		}
	}
}
