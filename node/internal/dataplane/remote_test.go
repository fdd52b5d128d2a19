package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

func TestTwoNodes_CastsBothWaysInOrder(t *testing.T) {
	t.Parallel()
	d1, d2 := twoNodes(t, Config{}, Config{})
	a, ra := instance(t, d1)
	b, rb := instance(t, d2)
	a.SetAliases(map[string]contract.InstanceID{"out": b.ID()})
	b.SetAliases(map[string]contract.InstanceID{"out": a.ID()})
	const n = 50
	for i := range n {
		if err := a.Cast(t.Context(), "out", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("a.Cast(out, %d) = %v", i, err)
		}
		if err := b.CastRaw(t.Context(), a.ID(), []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("b.CastRaw(a, %d) = %v", i, err)
		}
	}
	for i := range n {
		if got := rb.next(t); string(got.msg) != strconv.Itoa(i) || got.src != a.ID() {
			t.Fatalf("b got %q from %v, want %q from %v", got.msg, got.src, strconv.Itoa(i), a.ID())
		}
		if got := ra.next(t); string(got.msg) != strconv.Itoa(i) || got.src != b.ID() {
			t.Fatalf("a got %q from %v, want %q from %v", got.msg, got.src, strconv.Itoa(i), b.ID())
		}
	}
}

func TestTwoNodes_CallsBothWaysAllReplyTypes(t *testing.T) {
	t.Parallel()
	d1, d2 := twoNodes(t, Config{}, Config{})
	a, ra := instance(t, d1)
	b, rb := instance(t, d2)
	ra.onCall, rb.onCall = replyByCommand, replyByCommand
	a.SetAliases(map[string]contract.InstanceID{"out": b.ID()})
	for _, dir := range []struct {
		name string
		from *Mailbox
		to   contract.InstanceID
	}{{"1to2", a, b.ID()}, {"2to1", b, a.ID()}} {
		for _, tt := range replyCases {
			t.Run(dir.name+"/"+tt.msg, func(t *testing.T) {
				got, err := dir.from.CallRaw(t.Context(), dir.to, []byte(tt.msg))
				if err != nil {
					t.Fatalf("CallRaw(%q) = %v", tt.msg, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("CallRaw(%q) reply (-want +got):\n%s", tt.msg, diff)
				}
			})
		}
	}
	if got, err := a.Call(t.Context(), "out", []byte("alias")); err != nil || string(got.Msg) != "re:alias" {
		t.Errorf("Call(out) = %q, %v, want %q", got.Msg, err, "re:alias")
	}
	if s1, s2 := d1.Stats(), d2.Stats(); s1.PendingCalls+s2.PendingCalls != 0 || s1.RepliesUnmatched+s2.RepliesUnmatched != 0 {
		t.Errorf("after all replies: pending %d+%d, unmatched %d+%d, want 0", s1.PendingCalls, s2.PendingCalls, s1.RepliesUnmatched, s2.RepliesUnmatched)
	}
}

func TestTwoNodes_NestedCallsAcrossNodes(t *testing.T) {
	t.Parallel()
	d1, d2 := twoNodes(t, Config{}, Config{})
	checkNestedCall(t, d1, d2, d2)
}

func TestTwoNodes_NonUTF8ToPeerRejected(t *testing.T) {
	t.Parallel()
	d1, d2 := twoNodes(t, Config{}, Config{})
	a, _ := instance(t, d1)
	b, rb := instance(t, d2)
	bad := []byte{'o', 0xff, 'k'}
	if err := a.CastRaw(t.Context(), b.ID(), bad); !errors.Is(err, contract.ErrInvalidPayload) {
		t.Errorf("CastRaw(non-UTF-8) to peer = %v, want ErrInvalidPayload", err)
	}
	if _, err := a.CallRaw(t.Context(), b.ID(), bad); !errors.Is(err, contract.ErrInvalidPayload) {
		t.Errorf("CallRaw(non-UTF-8) to peer = %v, want ErrInvalidPayload", err)
	}
	// A reply the wire cannot carry reaches the remote caller as ERR.
	rb.onCall = func(context.Context, contract.InstanceID, []byte) (contract.Reply, error) { return reply(bad), nil }
	got, err := a.CallRaw(t.Context(), b.ID(), []byte("ok"))
	if want := (contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}); err != nil || !cmp.Equal(got, want) {
		t.Errorf("CallRaw answered with non-UTF-8 = %v, %v, want %v", got, err, want)
	}
}

// The events a peer receives are exactly upstream's.
func TestRemote_WireFormat(t *testing.T) {
	t.Parallel()
	peer := newRecordingPeer(t)
	d := newTestDataplane(t, Config{})
	url := serve(t, d)
	if err := d.AddPeer(peer.nodeID, peer.url); err != nil {
		t.Fatal(err)
	}
	a, ra := instance(t, d)
	remote := peer.id()

	if err := a.CastRaw(t.Context(), remote, []byte("hello")); err != nil {
		t.Fatalf("CastRaw = %v", err)
	}
	ev := peer.next(t)
	want := &edgelessapi.Event{
		Target:   wireID(remote),
		Source:   wireID(a.ID()),
		StreamId: 0,
		Msg:      &edgelessapi.EventData{EventType: edgelessapi.EventType_CAST, Payload: "hello"},
	}
	if diff := cmp.Diff(want, ev, protocmp.Transform(), protocmp.IgnoreFields(&edgelessapi.Event{}, "created", "metadata")); diff != "" {
		t.Errorf("cast event (-want +got):\n%s", diff)
	}
	checkCreatedAndMetadata(t, ev, true)

	// Calls: stream ids count up per source from a random start; replies
	// come back as events.
	replies := []struct {
		ev   *edgelessapi.EventData
		want contract.Reply
	}{
		{&edgelessapi.EventData{EventType: edgelessapi.EventType_CALL_RET, Payload: "pong"}, reply([]byte("pong"))},
		{&edgelessapi.EventData{EventType: edgelessapi.EventType_CALL_NO_RET}, contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}},
		{&edgelessapi.EventData{EventType: edgelessapi.EventType_ERR}, contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}},
		{&edgelessapi.EventData{EventType: edgelessapi.EventType_CAST + 41}, contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}},
	}
	client := grpcClient(url)
	var first uint64
	for i, r := range replies {
		done := callAsync(t.Context(), a, remote, "ping")
		ev := peer.next(t)
		if i == 0 {
			first = ev.GetStreamId()
		}
		if ev.GetStreamId() != first+uint64(i) || ev.GetMsg().GetEventType() != edgelessapi.EventType_CALL || ev.GetMsg().GetPayload() != "ping" {
			t.Fatalf("call %d event = stream %d %v %q, want stream %d CALL %q", i, ev.GetStreamId(), ev.GetMsg().GetEventType(), ev.GetMsg().GetPayload(), first+uint64(i), "ping")
		}
		checkCreatedAndMetadata(t, ev, true)
		answer := &edgelessapi.Event{Target: ev.GetSource(), Source: ev.GetTarget(), StreamId: ev.GetStreamId(), Msg: r.ev,
			Created: &edgelessapi.EventTimestamp{}, Metadata: ev.GetMetadata()}
		if _, err := client.Handle(t.Context(), answer); err != nil {
			t.Fatalf("Handle(reply %v) = %v", r.ev.GetEventType(), err)
		}
		res := <-done
		if res.err != nil || !cmp.Equal(res.reply, r.want) {
			t.Errorf("CallRaw answered %v = %v, %v, want %v", r.ev.GetEventType(), res.reply, res.err, r.want)
		}
	}

	// Our replies to a remote caller: same stream id, source = callee,
	// created 0/0 but present.
	ra.onCall = replyByCommand
	caller := peer.id()
	for _, tt := range []struct {
		msg  string
		want *edgelessapi.EventData
	}{
		{"ping", &edgelessapi.EventData{EventType: edgelessapi.EventType_CALL_RET, Payload: "re:ping"}},
		{"noreply", &edgelessapi.EventData{EventType: edgelessapi.EventType_CALL_NO_RET}},
		{"fail", &edgelessapi.EventData{EventType: edgelessapi.EventType_ERR}},
		{"error", &edgelessapi.EventData{EventType: edgelessapi.EventType_ERR}},
	} {
		call := newEvent(caller, a.ID(), 77, edgelessapi.EventType_CALL, []byte(tt.msg), rootMetadata(spanCall))
		if _, err := client.Handle(t.Context(), call); err != nil {
			t.Fatalf("Handle(call %q) = %v", tt.msg, err)
		}
		got := peer.next(t)
		want := &edgelessapi.Event{Target: wireID(caller), Source: wireID(a.ID()), StreamId: 77, Msg: tt.want,
			Created: &edgelessapi.EventTimestamp{}, Metadata: call.GetMetadata()}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("reply to %q (-want +got):\n%s", tt.msg, diff)
		}
		checkCreatedAndMetadata(t, got, false)
	}
}

func checkCreatedAndMetadata(t *testing.T, ev *edgelessapi.Event, stamped bool) {
	t.Helper()
	c := ev.GetCreated()
	if c == nil {
		t.Errorf("event has no created; upstream unwraps it")
	} else if stamped != (c.GetSecs() != 0) {
		t.Errorf("created = %d.%09d, want stamped=%v", c.GetSecs(), c.GetNsecs(), stamped)
	}
	if m := ev.GetMetadata(); len(m.GetTraceId()) != traceIDLen || len(m.GetSpanId()) != spanIDLen {
		t.Errorf("metadata lengths = %d, %d, want %d, %d", len(m.GetTraceId()), len(m.GetSpanId()), traceIDLen, spanIDLen)
	}
}

func TestRemote_CallDeadlineWhenPeerNeverAnswers(t *testing.T) {
	t.Parallel()
	peer := newRecordingPeer(t)
	// CallTimeout covers the send as well as the wait for the reply: it
	// must leave room for the event to reach the peer on a loaded host,
	// or the test would measure a send cut short, not a silent peer.
	d := newTestDataplane(t, Config{CallTimeout: 2 * time.Second})
	if err := d.AddPeer(peer.nodeID, peer.url); err != nil {
		t.Fatal(err)
	}
	a, _ := instance(t, d)
	done := callAsync(context.Background(), a, peer.id(), "anyone?")
	peer.next(t) // the peer has the call and never answers it
	select {
	case res := <-done:
		if !errors.Is(res.err, context.DeadlineExceeded) {
			t.Errorf("CallRaw to silent peer = %v, want DeadlineExceeded", res.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("CallRaw to silent peer did not end at its deadline")
	}
	if s := d.Stats(); s.PendingCalls != 0 {
		t.Errorf("Stats().PendingCalls = %d after deadline, want 0", s.PendingCalls)
	}
}

func TestRemote_UnregisterCallerFailsPendingCall(t *testing.T) {
	t.Parallel()
	peer := newRecordingPeer(t)
	d := newTestDataplane(t, Config{})
	if err := d.AddPeer(peer.nodeID, peer.url); err != nil {
		t.Fatal(err)
	}
	a, _ := instance(t, d)
	done := callAsync(t.Context(), a, peer.id(), "x")
	peer.next(t)
	d.Unregister(a.ID())
	if err := (<-done).err; !errors.Is(err, ErrUnregistered) {
		t.Errorf("CallRaw of unregistered caller = %v, want ErrUnregistered", err)
	}
}

func TestTwoNodes_UnregisteredCalleeAnswersErr(t *testing.T) {
	t.Parallel()
	d1, d2 := twoNodes(t, Config{}, Config{})
	a, _ := instance(t, d1)
	b, rb := instance(t, d2)
	started := make(chan struct{})
	rb.onCall = func(ctx context.Context, _ contract.InstanceID, _ []byte) (contract.Reply, error) {
		close(started)
		<-ctx.Done()
		return contract.Reply{}, ctx.Err()
	}
	done := callAsync(t.Context(), a, b.ID(), "x")
	<-started
	d2.Unregister(b.ID())
	res := <-done
	if want := (contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}); res.err != nil || !cmp.Equal(res.reply, want) {
		t.Errorf("CallRaw to a callee unregistered on its node = %v, %v, want %v", res.reply, res.err, want)
	}
	// Now the peer answers NOT_FOUND, which maps back to ErrUnknownInstance.
	if err := a.CastRaw(t.Context(), b.ID(), []byte("x")); !errors.Is(err, ErrUnknownInstance) {
		t.Errorf("CastRaw to unregistered remote = %v, want ErrUnknownInstance", err)
	}
	if _, err := a.CallRaw(t.Context(), b.ID(), []byte("x")); !errors.Is(err, ErrUnknownInstance) {
		t.Errorf("CallRaw to unregistered remote = %v, want ErrUnknownInstance", err)
	}
}

func TestTwoNodes_RemoteBackPressure(t *testing.T) {
	t.Parallel()
	d1, d2 := twoNodes(t, Config{}, Config{QueueSize: 1, SendTimeout: 50 * time.Millisecond})
	a, _ := instance(t, d1)
	b, rb := instance(t, d2)
	taken, release := rb.holdCasts()
	if err := a.CastRaw(t.Context(), b.ID(), []byte("0")); err != nil {
		t.Fatal(err)
	}
	<-taken
	if err := a.CastRaw(t.Context(), b.ID(), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := a.CastRaw(t.Context(), b.ID(), []byte("2")); !errors.Is(err, ErrQueueFull) {
		t.Errorf("CastRaw into a full remote queue = %v, want ErrQueueFull", err)
	}
	close(release)
	for _, want := range []string{"0", "1"} {
		if got := rb.next(t); string(got.msg) != want {
			t.Errorf("delivered %q, want %q", got.msg, want)
		}
	}
}

func TestPeers_AddValidates(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	id := uuid.NewString()
	for _, tt := range []struct{ name, node, url string }{
		{"bad uuid", "node-1", "http://127.0.0.1:7002"},
		{"https without TLS", id, "https://127.0.0.1:7002"},
		{"coap", id, "coap://127.0.0.1:7002"},
		{"no host", id, "http:///path"},
		{"garbage", id, "http://[::1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.AddPeer(tt.node, tt.url); err == nil {
				t.Errorf("AddPeer(%q, %q) = nil, want error", tt.node, tt.url)
			}
		})
	}
	if len(d.Peers()) != 0 {
		t.Errorf("Peers() = %v after invalid adds, want none", d.Peers())
	}
}

// AddPeer does no I/O; a send to an unreachable peer fails with a clear
// error instead of hanging.
func TestPeers_UnreachablePeerDoesNotBlock(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port that was open, then closed
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for name, url := range map[string]string{"refused": closed, "black hole": blackHole(t)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newTestDataplane(t, Config{SendTimeout: 300 * time.Millisecond})
			node := uuid.NewString()
			a, _ := instance(t, d)
			dst := contract.InstanceID{NodeID: node, FunctionID: uuid.NewString()}
			done := make(chan error, 2)
			go func() {
				// AddPeer never dials; a send waits at most SendTimeout.
				if err := d.AddPeer(node, url); err != nil {
					done <- fmt.Errorf("AddPeer = %w", err)
					return
				}
				done <- nil
				done <- a.CastRaw(context.Background(), dst, []byte("x"))
			}()
			for i, want := range []string{"AddPeer", "CastRaw"} {
				select {
				case err := <-done:
					if i == 0 && err != nil {
						t.Fatal(err)
					}
					if i == 1 && err == nil {
						t.Errorf("%s to an unreachable peer = nil, want an error", want)
					}
				case <-time.After(waitTimeout):
					t.Fatalf("%s to an unreachable peer (%s) blocked", want, name)
				}
			}
		})
	}
}

// blackHole returns the URL of a server that accepts connections and never
// answers: a peer whose host is up but whose process hangs.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestPeers_DelAndClear(t *testing.T) {
	t.Parallel()
	peer := newRecordingPeer(t)
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	if err := d.AddPeer(peer.nodeID, peer.url); err != nil {
		t.Fatal(err)
	}
	if err := d.AddPeer(d.NodeID(), "http://127.0.0.1:1"); err != nil { // upstream adds a node as its own peer
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{peer.nodeID: peer.url, d.NodeID(): "http://127.0.0.1:1"}, d.Peers()); diff != "" {
		t.Errorf("Peers() (-want +got):\n%s", diff)
	}
	// Local delivery never goes through the self-peer.
	if err := a.Cast(t.Context(), "self", []byte("x")); err != nil {
		t.Errorf("Cast(self) with a self-peer = %v", err)
	}

	done := callAsync(t.Context(), a, peer.id(), "x")
	peer.next(t)
	d.DelPeer(peer.nodeID)
	if err := (<-done).err; !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("pending call after DelPeer = %v, want ErrUnknownPeer", err)
	}
	if err := a.CastRaw(t.Context(), peer.id(), []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("CastRaw after DelPeer = %v, want ErrUnknownPeer", err)
	}
	d.DelPeer(peer.nodeID) // idempotent

	if err := d.AddPeer(peer.nodeID, peer.url); err != nil {
		t.Fatal(err)
	}
	if err := a.CastRaw(t.Context(), peer.id(), []byte("again")); err != nil {
		t.Errorf("CastRaw after re-adding = %v", err)
	}
	peer.next(t)
	d.ClearPeers()
	if len(d.Peers()) != 0 {
		t.Errorf("Peers() after ClearPeers = %v, want none", d.Peers())
	}
	if err := a.CastRaw(t.Context(), peer.id(), []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("CastRaw after ClearPeers = %v, want ErrUnknownPeer", err)
	}
}

// The server (grpc-go, as the node serves it) answers the same to a
// gRPC client of another stack (connect-go speaking gRPC over h2c, as
// upstream's tonic and grpcio peers do) and to grpc-go's (this node's peer
// client); it speaks gRPC only: the Connect protocol over HTTP/1.1 gets an
// error.
func TestServer_Clients(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{QueueSize: 1, SendTimeout: 50 * time.Millisecond})
	url := serve(t, d)
	conn, err := transport.Config{}.NewGRPCConn(url, transport.DefaultPayloadMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	grpcGo := edgelessapi.NewFunctionInvocationClient(conn)
	b, rb := instance(t, d)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	src := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	ev := func(target contract.InstanceID, payload string) *edgelessapi.Event {
		return newEvent(src, target, 0, edgelessapi.EventType_CAST, []byte(payload), rootMetadata(spanCastRaw))
	}
	other := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: b.ID().FunctionID}
	ghost := contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()}
	noTarget := ev(b.ID(), "x")
	noTarget.Target = nil
	badUUID := ev(b.ID(), "x")
	badUUID.Source.FunctionId = "not-a-uuid"
	badMeta := ev(b.ID(), "x")
	badMeta.Metadata = &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, traceIDLen), SpanId: []byte{1, 2, 3}} // not the shared root
	noMsg := ev(b.ID(), "x")
	noMsg.Msg = nil
	bare := ev(b.ID(), "bare") // created and metadata absent: accepted
	bare.Created, bare.Metadata = nil, nil

	for _, proto := range []struct {
		name   string
		handle func(context.Context, *edgelessapi.Event) error
	}{
		{"connect-go gRPC", func(ctx context.Context, e *edgelessapi.Event) error {
			_, err := grpcClient(url).Handle(ctx, e)
			return err
		}},
		{"grpc-go", func(ctx context.Context, e *edgelessapi.Event) error {
			_, err := grpcGo.Handle(ctx, e)
			return err
		}},
	} {
		t.Run(proto.name, func(t *testing.T) {
			for _, tt := range []struct {
				name string
				ev   *edgelessapi.Event
				code string
			}{
				{"cast", ev(b.ID(), "hello "+proto.name), "ok"},
				{"bare cast", bare, "ok"},
				{"other node", ev(other, "x"), connect.CodeInvalidArgument.String()},
				{"no target", noTarget, connect.CodeInvalidArgument.String()},
				{"bad uuid", badUUID, connect.CodeInvalidArgument.String()},
				{"bad metadata", badMeta, connect.CodeInvalidArgument.String()},
				{"no msg", noMsg, connect.CodeInvalidArgument.String()},
				{"unknown instance", ev(ghost, "x"), connect.CodeNotFound.String()},
			} {
				if got := codeFor(proto.handle(t.Context(), tt.ev)); got != tt.code {
					t.Errorf("%s: Handle = %v, want %v", tt.name, got, tt.code)
				}
			}
			for _, want := range []string{"hello " + proto.name, "bare"} {
				if got := rb.next(t); string(got.msg) != want || got.src != src {
					t.Errorf("delivered %q from %v, want %q from %v", got.msg, got.src, want, src)
				}
			}
		})
	}

	// The Connect protocol (HTTP/1.1) is not served: an error, not counted
	// as a rejected event (the count below).
	if _, err := connectClient(url).Handle(t.Context(), ev(b.ID(), "connect")); err == nil {
		t.Error("Handle with the Connect protocol over HTTP/1.1 succeeded, want an error (gRPC only)")
	}

	// A full queue is RESOURCE_EXHAUSTED.
	taken := make(chan struct{}, 4)
	rb.onCast = func(ctx context.Context, _ contract.InstanceID, _ []byte) error {
		taken <- struct{}{}
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}
	client := grpcClient(url)
	for i := range 2 {
		if _, err := client.Handle(t.Context(), ev(b.ID(), "fill")); err != nil {
			t.Fatalf("Handle(fill %d) = %v", i, err)
		}
		if i == 0 {
			<-taken
		}
	}
	if _, err := client.Handle(t.Context(), ev(b.ID(), "overflow")); codeFor(err) != connect.CodeResourceExhausted.String() {
		t.Errorf("Handle into full queue = %v, want %v", err, connect.CodeResourceExhausted)
	}
	if s := d.Stats(); s.EventsRejected != 2*6+1 {
		t.Errorf("Stats().EventsRejected = %d, want %d", s.EventsRejected, 2*6+1)
	}
}

// Replies that nobody waits for are counted and dropped, never delivered.
func TestServer_UnmatchedReply(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	url := serve(t, d)
	a, _ := instance(t, d)
	src := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	r := replyEvent(src, a.ID(), 9, reply([]byte("late")), nil)
	if _, err := grpcClient(url).Handle(t.Context(), r); err != nil {
		t.Fatalf("Handle(unmatched reply) = %v", err)
	}
	if s := d.Stats(); s.RepliesUnmatched != 1 {
		t.Errorf("Stats().RepliesUnmatched = %d, want 1", s.RepliesUnmatched)
	}
	// Events survive a wire round trip unchanged (sanity of the helpers).
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back edgelessapi.Event
	if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(r, &back) {
		t.Errorf("round trip = %v, %v", &back, err)
	}
}

// codeFor is "ok" for nil, else the error's connect code.
func codeFor(err error) string {
	if err == nil {
		return "ok"
	}
	if s, ok := status.FromError(err); ok { // grpc-go
		return connect.Code(s.Code()).String()
	}
	return connect.CodeOf(err).String()
}

// TestRemote_ForgedReplyDropped has a third party answer a pending call with
// the right stream id but another source: the reply is dropped, and the
// callee's own reply still completes the call. Stream ids start at random
// values, so they cannot be guessed from 1.
func TestRemote_ForgedReplyDropped(t *testing.T) {
	t.Parallel()
	peer := newRecordingPeer(t)
	d := newTestDataplane(t, Config{})
	url := serve(t, d)
	if err := d.AddPeer(peer.nodeID, peer.url); err != nil {
		t.Fatal(err)
	}
	a, _ := instance(t, d)
	b, _ := instance(t, d)
	callee := peer.id()
	done := callAsync(t.Context(), a, callee, "ping")
	call := peer.next(t)
	callAsync(t.Context(), b, callee, "ping")
	other := peer.next(t)
	if call.GetStreamId() < 2 || other.GetStreamId() < 2 || call.GetStreamId() == other.GetStreamId() {
		t.Errorf("stream ids of two instances' first calls = %d, %d; want random starts", call.GetStreamId(), other.GetStreamId())
	}
	client := grpcClient(url)
	answer := func(src *edgelessapi.InstanceId, payload string) {
		t.Helper()
		ev := &edgelessapi.Event{Target: call.GetSource(), Source: src, StreamId: call.GetStreamId(),
			Msg:     &edgelessapi.EventData{EventType: edgelessapi.EventType_CALL_RET, Payload: payload},
			Created: &edgelessapi.EventTimestamp{}}
		if _, err := client.Handle(t.Context(), ev); err != nil {
			t.Fatalf("Handle(reply from %v) = %v", src, err)
		}
	}
	answer(wireID(peer.id()), "forged") // another instance of the callee's node
	select {
	case res := <-done:
		t.Fatalf("CallRaw completed by a reply from another instance: %v, %v", res.reply, res.err)
	default:
	}
	if s := d.Stats(); s.RepliesRefused != 1 {
		t.Errorf("Stats().RepliesRefused = %d, want 1", s.RepliesRefused)
	}
	answer(call.GetTarget(), "pong")
	if res := <-done; res.err != nil || !cmp.Equal(res.reply, reply([]byte("pong"))) {
		t.Errorf("CallRaw = %v, %v; want the callee's reply pong", res.reply, res.err)
	}
}

// TestServer_SourceOnThisNodeRefused sends, from the network, events that
// claim an instance of the receiving node as their source: a forged reply,
// cast or call is refused with PERMISSION_DENIED and delivers nothing.
func TestServer_SourceOnThisNodeRefused(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	url := serve(t, d)
	a, ra := instance(t, d)
	b, _ := instance(t, d)
	var calls atomic.Int32
	ra.onCall = func(context.Context, contract.InstanceID, []byte) (contract.Reply, error) {
		calls.Add(1)
		return reply(nil), nil
	}
	client := grpcClient(url)
	for _, typ := range []edgelessapi.EventType{edgelessapi.EventType_CAST, edgelessapi.EventType_CALL, edgelessapi.EventType_CALL_RET} {
		ev := newEvent(b.ID(), a.ID(), 5, typ, []byte("forged"), nil)
		if _, err := client.Handle(t.Context(), ev); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("Handle(%v from this node's instance) = %v, want PERMISSION_DENIED", typ, err)
		}
	}
	if n, m := len(ra.casts), calls.Load(); n != 0 || m != 0 {
		t.Errorf("instance received %d casts and %d calls, want none", n, m)
	}
}

// TestRemote_CallToStoppedInstanceAnswersErrEvent stands in for an upstream
// node, which ignores the RPC status of its CALL and waits for a reply
// event: a call to an unknown (or stopped) instance must be answered with an
// ERR event on the same stream, as well as with NOT_FOUND.
func TestRemote_CallToStoppedInstanceAnswersErrEvent(t *testing.T) {
	t.Parallel()
	peer := newRecordingPeer(t)
	d := newTestDataplane(t, Config{})
	url := serve(t, d)
	if err := d.AddPeer(peer.nodeID, peer.url); err != nil {
		t.Fatal(err)
	}
	stopped, _ := instance(t, d)
	d.Unregister(stopped.ID())
	unknown := contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()}
	client := grpcClient(url)
	caller := peer.id()
	for k, target := range []contract.InstanceID{stopped.ID(), unknown} {
		stream := uint64(1000 + k)
		call := newEvent(caller, target, stream, edgelessapi.EventType_CALL, []byte("hello?"), rootMetadata(spanCall))
		if _, err := client.Handle(t.Context(), call); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("Handle(call to %s) = %v, want NOT_FOUND", target.FunctionID, err)
		}
		got := peer.next(t)
		want := &edgelessapi.Event{Target: wireID(caller), Source: wireID(target), StreamId: stream,
			Msg: &edgelessapi.EventData{EventType: edgelessapi.EventType_ERR}}
		if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&edgelessapi.Event{}, "created", "metadata")); diff != "" {
			t.Errorf("answer to a call to %s (-want +got):\n%s", target.FunctionID, diff)
		}
	}
}

// stuckInvocation is a peer whose Handle never returns before its ctx ends.
type stuckInvocation struct{}

func (stuckInvocation) Handle(ctx context.Context, _ *edgelessapi.Event) (*emptypb.Empty, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRemote_SendDeadline checks that a send the peer never answers ends
// at the sender's deadline with an error that says so (errors.Is), as the
// pending-call and agent code expects, whichever RPC library sent it.
func TestRemote_SendDeadline(t *testing.T) {
	t.Parallel()
	path, h := edgelessapiconnect.NewFunctionInvocationHandler(stuckInvocation{})
	url := serveH2C(t, path, h)
	nodeID := uuid.NewString()
	d := newTestDataplane(t, Config{})
	if err := d.AddPeer(nodeID, url); err != nil {
		t.Fatal(err)
	}
	a, _ := instance(t, d)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := a.CastRaw(ctx, contract.InstanceID{NodeID: nodeID, FunctionID: uuid.NewString()}, []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CastRaw to a stuck peer = %v, want DeadlineExceeded", err)
	}
}
