package loadgen

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// sheddingNode is a fake node's FunctionInvocation (grpc-go, on a real
// socket): it refuses every third cast with RESOURCE_EXHAUSTED, as a node
// with max_queue_delay_ms sheds, and sends each accepted one back to the
// generator's sink before it answers, as the example function re-casts it.
type sheddingNode struct {
	edgelessapi.UnimplementedFunctionInvocationServer
	id       string
	sink     edgelessapi.FunctionInvocationClient
	n, shed  atomic.Int64
	accepted atomic.Int64
}

func (s *sheddingNode) Handle(ctx context.Context, ev *edgelessapi.Event) (*emptypb.Empty, error) {
	if s.n.Add(1)%3 == 0 {
		s.shed.Add(1)
		return nil, status.Error(codes.ResourceExhausted, "queue holds more than max_queue_delay_ms of work")
	}
	s.accepted.Add(1)
	back := &edgelessapi.Event{
		Target: ev.GetSource(), Source: &edgelessapi.InstanceId{NodeId: s.id, FunctionId: ev.GetTarget().GetFunctionId()},
		Msg: ev.GetMsg(), Created: &edgelessapi.EventTimestamp{}, Metadata: ev.GetMetadata(),
	}
	if _, err := s.sink.Handle(ctx, back); err != nil {
		return nil, status.Errorf(codes.Internal, "send back: %v", err)
	}
	return &emptypb.Empty{}, nil
}

// A node that sheds load is retried: every refused cast is sent again
// until accepted, so that each event arrives exactly once and in order,
// and the refusals are counted. Both of the generator's event paths (its
// FunctionInvocation client and its sink server) are real gRPC here.
func TestRun_RetriesShedCasts(t *testing.T) {
	t.Parallel()
	node := &sheddingNode{id: uuid.NewString()}
	srv, err := transport.Config{}.NewGRPCServer(maxEventBytes)
	if err != nil {
		t.Fatal(err)
	}
	edgelessapi.RegisterFunctionInvocationServer(srv, node)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	g, err := New(Config{InvocationURL: "http://" + ln.Addr().String(), AgentURL: "http://127.0.0.1:1",
		NodeID: node.id, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.instances = nil // the fake node's: nothing to stop
		if err := g.Close(context.Background()); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	conn, err := transport.Config{}.NewGRPCConn(g.URL(), maxEventBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	node.sink = edgelessapi.NewFunctionInvocationClient(conn)
	for range 4 { // instances the fake node pretends to host (Setup needs an agent)
		g.instances = append(g.instances, &edgelessapi.InstanceId{NodeId: node.id, FunctionId: uuid.NewString()})
	}

	const events = 600
	res, err := g.Run(t.Context(), Load{Senders: 8, Events: events, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("Run() = %v; violations %q", err, res.Violations)
	}
	if res.Sent != events || res.Arrived != events || node.accepted.Load() != events {
		t.Errorf("sent %d, arrived %d, node accepted %d; want %d each", res.Sent, res.Arrived, node.accepted.Load(), events)
	}
	if shed := node.shed.Load(); shed == 0 || int64(res.Refused) != shed {
		t.Errorf("Result.Refused = %d, node refused %d; want the same, above 0", res.Refused, shed)
	}
}
