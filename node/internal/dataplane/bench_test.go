package dataplane

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// nopGRPC serves a FunctionInvocation that does nothing on grpc-go (with
// srv's TLS) on 127.0.0.1 and returns a grpc-go client of it (with cli's).
func nopGRPC(b *testing.B, srv, cli transport.Config) edgelessapi.FunctionInvocationClient {
	s, err := srv.NewGRPCServer(transport.DefaultPayloadMaxBytes)
	if err != nil {
		b.Fatal(err)
	}
	edgelessapi.RegisterFunctionInvocationServer(s, nopInvocation{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln)
	b.Cleanup(s.Stop)
	conn, err := cli.NewGRPCConn("http://"+ln.Addr().String(), transport.DefaultPayloadMaxBytes)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return edgelessapi.NewFunctionInvocationClient(conn)
}

type nopInvocation struct {
	edgelessapi.UnimplementedFunctionInvocationServer
}

func (nopInvocation) Handle(context.Context, *edgelessapi.Event) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// BenchmarkRemoteCast measures a cast from an instance on one node to an
// instance on another, delivered to its receiver, and reports it as a ratio
// ("x-floor") to the floor measured in the same run: one raw gRPC
// FunctionInvocation.Handle round trip to a server that does nothing, on
// the stacks of the node's own hop (grpc-go client and server).
func BenchmarkRemoteCast(b *testing.B) {
	floorClient := nopGRPC(b, transport.Config{}, transport.Config{})
	ev := newEvent(contract.InstanceID{NodeID: "n", FunctionID: "a"}, contract.InstanceID{NodeID: "n", FunctionID: "b"},
		0, edgelessapi.EventType_CAST, []byte("payload"), rootMetadata(spanCastRaw))
	d1, d2 := twoNodes(b, Config{}, Config{})
	a := d1.Register(contract.InstanceID{NodeID: d1.NodeID(), FunctionID: "6d1b3c2a-0000-4000-8000-00000000000a"})
	a.Attach(newFakeReceiver())
	dst := d2.Register(contract.InstanceID{NodeID: d2.NodeID(), FunctionID: "6d1b3c2a-0000-4000-8000-00000000000b"})
	r := newFakeReceiver()
	dst.Attach(r)
	msg := []byte("payload")
	n := 0
	for b.Loop() {
		if err := a.CastRaw(context.Background(), dst.ID(), msg); err != nil {
			b.Fatal(err)
		}
		<-r.casts
		n++
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(n)

	// The floor, after the timed loop, with as many round trips.
	start := time.Now()
	for range n {
		if _, err := floorClient.Handle(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
	floor := float64(time.Since(start).Nanoseconds()) / float64(n)
	b.ReportMetric(perOp/floor, "x-floor")
	b.ReportMetric(floor, "floor-ns/op")
}
