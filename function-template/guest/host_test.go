package guest_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// hostKinds are the fake nodes the host client is tested against: a
// GuestAPIHost server on connect-go (net/http h2c) and one on grpc-go.
var hostKinds = []struct {
	name string
	new  func(testing.TB) *guesttest.Host
}{
	{"connecthost", guesttest.NewHost},
	{"grpchost", guesttest.NewGRPCHost},
}

// bootedHost boots and initialises an instance against a fake host of
// kind (one of hostKinds) and returns the host handle the function
// received.
func bootedHost(t *testing.T, kind string) (*guest.Host, *guesttest.Host, *edgelessapi.InstanceId) {
	t.Helper()
	for _, k := range hostKinds {
		if k.name == kind {
			in := newInstanceOf(t, k.new(t), "grpc", testOptions(t))
			in.driveTo(t, guest.Initialized)
			return in.fn.Host(), in.host, in.boot.InstanceId
		}
	}
	t.Fatalf("unknown host kind %q", kind)
	return nil, nil, nil
}

// TestHost_Methods calls every host method and checks what reached the
// host: the method, the originator (the id from Boot), every field, and a
// deadline although the caller's context has none.
func TestHost_Methods(t *testing.T) {
	t.Parallel()
	payload := []byte{'p', 0xff, 0x00, ' ', 0xc3}
	dst := guesttest.NewID()
	dstID := guest.InstanceID{NodeID: dst.NodeId, FunctionID: dst.FunctionId}
	tests := []struct {
		name   string
		call   func(ctx context.Context, h *guest.Host) error
		method string
		want   func(me *edgelessapi.InstanceId) proto.Message
	}{
		{
			"Cast",
			func(ctx context.Context, h *guest.Host) error { return h.Cast(ctx, "output", payload) },
			"Cast",
			func(me *edgelessapi.InstanceId) proto.Message {
				return &edgelessapi.OutputEventData{Originator: me, Alias: "output", Msg: payload}
			},
		},
		{
			"CastRaw",
			func(ctx context.Context, h *guest.Host) error { return h.CastRaw(ctx, dstID, payload) },
			"CastRaw",
			func(me *edgelessapi.InstanceId) proto.Message {
				return &edgelessapi.OutputEventDataRaw{Originator: me, Dst: dst, Msg: payload}
			},
		},
		{
			"Call",
			func(ctx context.Context, h *guest.Host) error { _, err := h.Call(ctx, "other", payload); return err },
			"Call",
			func(me *edgelessapi.InstanceId) proto.Message {
				return &edgelessapi.OutputEventData{Originator: me, Alias: "other", Msg: payload}
			},
		},
		{
			"CallRaw",
			func(ctx context.Context, h *guest.Host) error { _, err := h.CallRaw(ctx, dstID, payload); return err },
			"CallRaw",
			func(me *edgelessapi.InstanceId) proto.Message {
				return &edgelessapi.OutputEventDataRaw{Originator: me, Dst: dst, Msg: payload}
			},
		},
		{
			"Sync",
			func(ctx context.Context, h *guest.Host) error { return h.Sync(ctx, payload) },
			"Sync",
			func(me *edgelessapi.InstanceId) proto.Message {
				return &edgelessapi.SyncData{Originator: me, SerializedState: payload}
			},
		},
		{
			"TelemetryLog",
			func(ctx context.Context, h *guest.Host) error {
				return h.TelemetryLog(ctx, guest.LogWarn, "tgt", "a log line")
			},
			"TelemetryLog",
			func(me *edgelessapi.InstanceId) proto.Message {
				return &edgelessapi.TelemetryLogEvent{Originator: me, LogLevel: edgelessapi.TelemetryLogLevel_LOG_WARN, Target: "tgt", Msg: "a log line"}
			},
		},
	}
	for _, kind := range hostKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h, fake, me := bootedHost(t, kind.name)
				if err := tt.call(context.Background(), h); err != nil {
					t.Fatalf("Host.%s() error = %v", tt.name, err)
				}
				got := fake.Wait(t, 1)
				if len(got) != 1 || got[0].Method != tt.method {
					t.Fatalf("host got %v, want one %s", got, tt.method)
				}
				if want := tt.want(me); !proto.Equal(got[0].Msg, want) {
					t.Errorf("host got %s %v, want %v", tt.method, got[0].Msg, want)
				}
				if !got[0].HasDeadline {
					t.Errorf("host %s request has no deadline", tt.method)
				}
			})
		}
	}
}

func TestHost_DelayedCast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		delay  time.Duration
		wantMS uint64
	}{
		{0, 0},
		{250 * time.Millisecond, 250},
		{1500 * time.Microsecond, 2}, // rounded up: never earlier than asked
	}
	for _, tt := range tests {
		t.Run(tt.delay.String(), func(t *testing.T) {
			t.Parallel()
			h, fake, me := bootedHost(t, "grpchost")
			msg := []byte{0xfe, 'x'}
			if err := h.DelayedCast(context.Background(), "self", tt.delay, msg); err != nil {
				t.Fatalf("DelayedCast() error = %v", err)
			}
			got := fake.Wait(t, 1)[0]
			d, ok := got.Msg.(*edgelessapi.DelayedEventData)
			if got.Method != "DelayedCast" || !ok {
				t.Fatalf("host got %s %T, want DelayedCast", got.Method, got.Msg)
			}
			if !proto.Equal(d.Originator, me) || d.Alias != "self" || !bytes.Equal(d.Msg, msg) || d.Delay != tt.wantMS {
				t.Errorf("DelayedEventData = %v, want originator %v, alias self, msg %q, delay %d", d, me, msg, tt.wantMS)
			}
			if len(d.GetMetadata().GetTraceId()) != 16 || len(d.GetMetadata().GetSpanId()) != 8 {
				t.Errorf("DelayedEventData.metadata = %v, want a 16-byte trace id and an 8-byte span id", d.GetMetadata())
			}
			if !got.HasDeadline {
				t.Error("DelayedCast request has no deadline")
			}
		})
	}
}

func TestHost_BadArguments(t *testing.T) {
	t.Parallel()
	h, fake, _ := bootedHost(t, "grpchost")
	if err := h.DelayedCast(t.Context(), "self", -time.Second, nil); err == nil || !strings.Contains(err.Error(), "negative delay") {
		t.Errorf("DelayedCast(-1s) error = %v, want negative delay", err)
	}
	if err := h.TelemetryLog(t.Context(), guest.LogLevel(9), "t", "m"); err == nil || !strings.Contains(err.Error(), "unknown log level 9") {
		t.Errorf("TelemetryLog(level 9) error = %v, want unknown log level", err)
	}
	if got := fake.Requests(); len(got) != 0 {
		t.Errorf("host got %v, want nothing", got)
	}
}

func TestHost_Slf(t *testing.T) {
	t.Parallel()
	for _, kind := range hostKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h, fake, me := bootedHost(t, kind.name)
			fake.SetSlf(me)
			got, err := h.Slf(t.Context())
			if err != nil {
				t.Fatalf("Slf() error = %v", err)
			}
			if got != h.ID() {
				t.Errorf("Slf() = %v, want %v", got, h.ID())
			}
		})
	}
}

func TestHost_CallReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answer    *edgelessapi.CallReturn
		answerErr error
		want      guest.Reply
		wantErr   string
		wantCode  connect.Code
	}{
		{name: "reply", answer: &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte{0xff}}, want: guest.ReplyMsg([]byte{0xff})},
		{name: "no reply", answer: &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, want: guest.NoReply()},
		{name: "err", answer: &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_ERR, Msg: []byte("why")}, wantErr: `CALL_RET_ERR: "why"`},
		{name: "unknown type", answer: &edgelessapi.CallReturn{Type: 7}, wantErr: "unknown CallRetType 7"},
		{name: "rpc error", answerErr: connect.NewError(connect.CodeNotFound, errors.New("no such alias")), wantErr: "no such alias", wantCode: connect.CodeNotFound},
	}
	for _, kind := range hostKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h, fake, _ := bootedHost(t, kind.name)
				fake.SetCallReply(func(guesttest.Request) (*edgelessapi.CallReturn, error) { return tt.answer, tt.answerErr })
				for _, call := range []struct {
					name string
					f    func() (guest.Reply, error)
				}{
					{"Call", func() (guest.Reply, error) { return h.Call(t.Context(), "a", nil) }},
					{"CallRaw", func() (guest.Reply, error) { return h.CallRaw(t.Context(), h.ID(), nil) }},
				} {
					got, err := call.f()
					if tt.wantErr == "" {
						if err != nil {
							t.Fatalf("%s() error = %v", call.name, err)
						}
						gotMsg, gotOK := got.Msg()
						wantMsg, wantOK := tt.want.Msg()
						if gotOK != wantOK || !bytes.Equal(gotMsg, wantMsg) {
							t.Errorf("%s() = %v, want %v", call.name, got, tt.want)
						}
						continue
					}
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("%s() error = %v, want it to contain %q", call.name, err, tt.wantErr)
					}
					if isErr := tt.answer.GetType() == edgelessapi.CallRetType_CALL_RET_ERR && tt.answer != nil; isErr != errors.Is(err, guest.ErrCallFailed) {
						t.Errorf("errors.Is(%v, ErrCallFailed) = %v, want %v", err, !isErr, isErr)
					}
					if tt.wantCode != 0 && connect.CodeOf(err) != tt.wantCode {
						t.Errorf("%s() error code = %v, want %v", call.name, connect.CodeOf(err), tt.wantCode)
					}
					if tt.wantCode != 0 && status.Code(err) != codes.Code(tt.wantCode) {
						t.Errorf("%s() status.Code = %v, want %v", call.name, status.Code(err), tt.wantCode)
					}
				}
			})
		}
	}
}

func TestHost_CallerDeadlineKept(t *testing.T) {
	t.Parallel()
	for _, kind := range hostKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			testCallerDeadlineKept(t, kind.name)
		})
	}
}

func testCallerDeadlineKept(t *testing.T, kind string) {
	h, fake, _ := bootedHost(t, kind)
	release := make(chan struct{})
	defer close(release)
	fake.SetCallReply(func(guesttest.Request) (*edgelessapi.CallReturn, error) {
		<-release
		return &edgelessapi.CallReturn{}, nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := h.Call(ctx, "slow", nil)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Call() with a 30ms deadline to a stuck host: error = %v, want DEADLINE_EXCEEDED wrapping context.DeadlineExceeded", err)
	}
}

// TestHost_ReconnectsQuickly: while the node is gone, the host client
// keeps trying to reconnect at short intervals (a second apart at most),
// not with grpc-go's default backoff (1 s, 1.6 s, 2.6 s, ... up to 2
// minutes), and host calls fail at once meanwhile; once the node is back,
// a host call succeeds again.
func TestHost_ReconnectsQuickly(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	node := grpc.NewServer()
	edgelessapi.RegisterGuestAPIHostServer(node, bareGRPCHost{})
	go func() { _ = node.Serve(ln) }()
	in := newInstanceOf(t, &guesttest.Host{URL: "http://" + addr}, "grpc", testOptions(t))
	in.driveTo(t, guest.Initialized)
	h := in.fn.Host()
	if err := h.Cast(t.Context(), "output", nil); err != nil {
		t.Fatalf("Cast() = %v", err)
	}
	node.Stop()

	// The node's port now accepts and drops every connection: each is one
	// failed attempt of the client, at the time recorded.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var attempts []time.Time // owned by the goroutine until acceptDone
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts = append(attempts, time.Now())
			c.Close()
		}
	}()
	// Long enough for grpc-go's default backoff to show a pause of 2 s or
	// more: its 3rd pause (2.56 s ± 20%) ends after 4.1 s at the earliest,
	// and until it has, the time since its 3rd attempt (at 3.1 s at the
	// latest) counts as a pause too.
	const outage = 5500 * time.Millisecond
	for end := start.Add(outage); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		if err := h.Cast(ctx, "output", nil); err == nil {
			t.Fatal("Cast() to a node that drops every connection succeeded")
		}
		cancel()
	}
	end := time.Now()
	ln.Close()
	<-acceptDone

	// The longest time without an attempt, from the port accepting again
	// to the end of the outage. The client's pauses grow from 50 ms to
	// 1 s ± 20%; the bound leaves 0.4 s for a loaded machine, and grpc-go's
	// default backoff exceeds 2 s.
	const maxPause = 1600 * time.Millisecond
	var longest time.Duration
	n, last := len(attempts), start
	for _, at := range attempts {
		longest = max(longest, at.Sub(last))
		last = at
	}
	longest = max(longest, end.Sub(last))
	t.Logf("%d connection attempts in %s while the node was gone, the longest pause %s", n, end.Sub(start).Round(time.Millisecond), longest.Round(time.Millisecond))
	if longest > maxPause {
		t.Errorf("%d connection attempts in %s while the node was gone, with a pause of %s, want none longer than %s", n, end.Sub(start).Round(time.Millisecond), longest.Round(time.Millisecond), maxPause)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	node = grpc.NewServer()
	edgelessapi.RegisterGuestAPIHostServer(node, bareGRPCHost{})
	go func() { _ = node.Serve(ln) }()
	t.Cleanup(node.Stop)
	ctx := ctxTimeout(t, 10*time.Second) // a guard against a hang, not a measurement
	for {
		err := h.Cast(ctx, "output", nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Cast() after the node came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
