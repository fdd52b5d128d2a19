package dataplane

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Fixed ids, so that the fuzzer can reach the instance and the peer.
const (
	fuzzNode     = "6d1b3c2a-0000-4000-8000-000000000001"
	fuzzFunction = "6d1b3c2a-0000-4000-8000-000000000002"
	fuzzPeer     = "6d1b3c2a-0000-4000-8000-000000000003"
)

// FuzzHandle feeds arbitrary bytes, decoded as an Event, to the
// FunctionInvocation server: it must answer (OK or an error), never panic
// or hang. CI runs it briefly: go test -run '^$' -fuzz FuzzHandle -fuzztime 10s.
func FuzzHandle(f *testing.F) {
	target := contract.InstanceID{NodeID: fuzzNode, FunctionID: fuzzFunction}
	src := contract.InstanceID{NodeID: fuzzPeer, FunctionID: fuzzFunction}
	for _, ev := range []*edgelessapi.Event{
		newEvent(src, target, 0, edgelessapi.EventType_CAST, []byte("cast"), rootMetadata(spanCastRaw)),
		newEvent(src, target, 1, edgelessapi.EventType_CALL, []byte("call"), rootMetadata(spanCall)),
		newEvent(target, target, 2, edgelessapi.EventType_CALL, []byte("self call"), rootMetadata(spanCall)),
		replyEvent(src, target, 3, reply([]byte("reply")), nil),
		replyEvent(src, target, 4, contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil),
		replyEvent(src, target, 5, contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}, nil),
		{Target: wireID(target)},
		{},
	} {
		b, err := proto.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0xff})

	d := New(Config{
		NodeID:      fuzzNode,
		CallTimeout: 50 * time.Millisecond,
		SendTimeout: 10 * time.Millisecond,
		QueueSize:   4,
		Logger:      slog.New(slog.DiscardHandler),
	})
	f.Cleanup(d.Close)
	h := d.Register(target)
	r := &fakeReceiver{casts: make(chan received, 1)}
	r.onCast = func(context.Context, contract.InstanceID, []byte) error {
		select { // keep the receiver's buffer from filling
		case <-r.casts:
		default:
		}
		return nil
	}
	h.Attach(r)
	// The peer is unreachable (nothing listens on port 1 of 127.0.0.1):
	// replies to it fail fast.
	if err := d.AddPeer(fuzzPeer, "http://127.0.0.1:1"); err != nil {
		f.Fatal(err)
	}
	srv := grpcInvocation{d: d}

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev edgelessapi.Event
		if err := proto.Unmarshal(data, &ev); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		res, err := srv.Handle(ctx, &ev)
		if (res == nil) == (err == nil) {
			t.Fatalf("Handle = %v, %v: want exactly one of response and error", res, err)
		}
	})
}
