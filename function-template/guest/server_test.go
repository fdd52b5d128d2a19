package guest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// instance is a server under test with its fake host, function and client.
type instance struct {
	s    *guest.Server
	host *guesttest.Host
	fn   *recorder
	c    edgelessapiconnect.GuestAPIFunctionClient
	boot *edgelessapi.BootData
	url  string // the server's base URL
}

func newInstance(t *testing.T, protocol string, opts guest.Options) *instance {
	t.Helper()
	return newInstanceOf(t, guesttest.NewHost(t), protocol, opts)
}

// newInstanceOf is newInstance with the fake node host.
func newInstanceOf(t *testing.T, host *guesttest.Host, protocol string, opts guest.Options) *instance {
	t.Helper()
	in := &instance{host: host, fn: &recorder{}}
	in.s, in.url = guesttest.StartServer(t, in.fn, opts)
	in.c = guesttest.NewClient(t, protocol, in.url)
	in.boot = guesttest.BootData(in.host)
	return in
}

func (in *instance) wantState(t *testing.T, want guest.State) {
	t.Helper()
	if got := in.s.State(); got != want {
		t.Fatalf("State() = %v, want %v", got, want)
	}
}

func (in *instance) mustBoot(t *testing.T) {
	t.Helper()
	if _, err := in.c.Boot(t.Context(), in.boot); err != nil {
		t.Fatalf("Boot() error = %v", err)
	}
}

func (in *instance) mustInit(t *testing.T) {
	t.Helper()
	if _, err := in.c.Init(t.Context(), &edgelessapi.FunctionInstanceInit{}); err != nil {
		t.Fatalf("Init() error = %v", err)
	}
}

func (in *instance) mustStop(t *testing.T) {
	t.Helper()
	if _, err := in.c.Stop(t.Context(), &emptypb.Empty{}); err != nil {
		t.Fatalf("Stop() error = %v", err)
	}
}

// driveTo brings a fresh instance to state.
func (in *instance) driveTo(t *testing.T, state guest.State) {
	t.Helper()
	switch state {
	case guest.PreBooted:
	case guest.Booted:
		in.mustBoot(t)
	case guest.Initialized:
		in.mustBoot(t)
		in.mustInit(t)
	case guest.Stopped:
		in.mustBoot(t)
		in.mustInit(t)
		in.mustStop(t)
	case guest.Error:
		in.mustBoot(t)
		in.fn.initFn = func() error { return errors.New("init broke") }
		_, err := in.c.Init(t.Context(), &edgelessapi.FunctionInstanceInit{})
		wantCode(t, "Init", err, connect.CodeInternal)
	}
	in.wantState(t, state)
}

func event(msg string) *edgelessapi.InputEventData {
	return &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte(msg)}
}

func TestServer_Lifecycle(t *testing.T) {
	t.Parallel()
	for _, protocol := range guesttest.Protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			in := newInstance(t, protocol, testOptions(t))
			ctx := t.Context()
			in.wantState(t, guest.PreBooted)

			in.mustBoot(t)
			in.wantState(t, guest.Booted)

			_, err := in.c.Init(ctx, &edgelessapi.FunctionInstanceInit{InitPayload: "a=1", SerializedState: []byte("saved")})
			if err != nil {
				t.Fatalf("Init() error = %v", err)
			}
			in.wantState(t, guest.Initialized)
			host := in.fn.Host()
			wantID := guest.InstanceID{NodeID: in.boot.InstanceId.NodeId, FunctionID: in.boot.InstanceId.FunctionId}
			if host.ID() != wantID {
				t.Errorf("Host.ID() = %v, want %v", host.ID(), wantID)
			}
			if in.fn.payload != "a=1" || string(in.fn.state) != "saved" {
				t.Errorf("Init got payload %q, state %q, want %q, %q", in.fn.payload, in.fn.state, "a=1", "saved")
			}

			ev := event("hello")
			res, err := in.c.Call(ctx, ev)
			if err != nil {
				t.Fatalf("Call() error = %v", err)
			}
			if res.GetType() != edgelessapi.CallRetType_CALL_RET_REPLY || string(res.GetMsg()) != "hello" {
				t.Errorf("Call(%q) = %v %q, want CALL_RET_REPLY %q", "hello", res.GetType(), res.GetMsg(), "hello")
			}
			if want := (guest.InstanceID{NodeID: ev.Src.NodeId, FunctionID: ev.Src.FunctionId}); in.fn.lastSrc != want {
				t.Errorf("Call src = %v, want %v", in.fn.lastSrc, want)
			}
			if _, err := in.c.Cast(ctx, event("one-way")); err != nil {
				t.Fatalf("Cast() error = %v", err)
			}
			if len(in.fn.casts) != 1 || string(in.fn.casts[0]) != "one-way" {
				t.Errorf("function got casts %q, want [%q]", in.fn.casts, "one-way")
			}
			in.wantState(t, guest.Initialized)

			in.mustStop(t)
			in.wantState(t, guest.Stopped)
			if in.fn.stops != 1 {
				t.Errorf("Function.Stop called %d times, want 1", in.fn.stops)
			}
		})
	}
}

// TestServer_Commands sends every command in every state: the commands
// that the state accepts move it as the state machine says; every other
// command is refused with FAILED_PRECONDITION naming the state, and leaves
// the state unchanged.
func TestServer_Commands(t *testing.T) {
	t.Parallel()
	commands := []string{"Boot", "Init", "Cast", "Call", "Stop"}
	// next[state][command] is the state after an accepted command.
	next := map[guest.State]map[string]guest.State{
		guest.PreBooted:   {"Boot": guest.Booted},
		guest.Booted:      {"Init": guest.Initialized, "Stop": guest.Stopped},
		guest.Initialized: {"Cast": guest.Initialized, "Call": guest.Initialized, "Stop": guest.Stopped},
		guest.Stopped:     {"Boot": guest.Booted},
		guest.Error:       {},
	}
	for _, protocol := range guesttest.Protocols {
		for _, state := range []guest.State{guest.PreBooted, guest.Booted, guest.Initialized, guest.Stopped, guest.Error} {
			for _, cmd := range commands {
				t.Run(protocol+"/"+state.String()+"/"+cmd, func(t *testing.T) {
					t.Parallel()
					in := newInstance(t, protocol, testOptions(t))
					in.driveTo(t, state)
					ctx := t.Context()
					var err error
					switch cmd {
					case "Boot":
						_, err = in.c.Boot(ctx, guesttest.BootData(in.host)) // new data: not a repeated Boot
					case "Init":
						_, err = in.c.Init(ctx, &edgelessapi.FunctionInstanceInit{})
					case "Cast":
						_, err = in.c.Cast(ctx, event("x"))
					case "Call":
						_, err = in.c.Call(ctx, event("x"))
					case "Stop":
						_, err = in.c.Stop(ctx, &emptypb.Empty{})
					}
					if want, ok := next[state][cmd]; ok {
						if err != nil {
							t.Fatalf("%s in %v: error = %v, want nil", cmd, state, err)
						}
						in.wantState(t, want)
						return
					}
					wantCode(t, cmd+" in "+state.String(), err, connect.CodeFailedPrecondition)
					if !strings.Contains(err.Error(), "state "+state.String()) {
						t.Errorf("%s in %v: error = %q, want it to name the state", cmd, state, err)
					}
					in.wantState(t, state)
				})
			}
		}
	}
}

func TestServer_BootRepeatedWithSameData(t *testing.T) {
	t.Parallel()
	in := newInstance(t, "grpc", testOptions(t))
	in.mustBoot(t)
	in.mustBoot(t) // a node retrying a Boot whose answer it lost
	in.wantState(t, guest.Booted)
	in.mustInit(t)
	_, err := in.c.Boot(t.Context(), in.boot)
	wantCode(t, "Boot when Initialized", err, connect.CodeFailedPrecondition)
}

func TestServer_Reboot(t *testing.T) {
	t.Parallel()
	in := newInstance(t, "grpc", testOptions(t))
	in.driveTo(t, guest.Stopped)
	first := in.fn.Host()
	in.boot = guesttest.BootData(in.host)
	in.mustBoot(t)
	in.mustInit(t)
	in.wantState(t, guest.Initialized)
	second := in.fn.Host()
	if in.fn.inits != 2 || first == second {
		t.Fatalf("after re-boot: %d Init calls, new host %v, want 2 and a new host", in.fn.inits, first != second)
	}
	if got, want := second.ID().FunctionID, in.boot.InstanceId.FunctionId; got != want {
		t.Errorf("Host.ID().FunctionID after re-boot = %q, want %q", got, want)
	}
	if err := second.Cast(t.Context(), "output", []byte("x")); err != nil {
		t.Errorf("Host.Cast after re-boot: %v", err)
	}
}

func TestServer_BootInvalid(t *testing.T) {
	t.Parallel()
	host := guesttest.NewHost(t)
	// A port where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name     string
		boot     *edgelessapi.BootData
		wantCode connect.Code
		wantErr  string
	}{
		{"missing instance id", &edgelessapi.BootData{GuestApiHostEndpoint: host.URL}, connect.CodeInvalidArgument, "instance_id is missing"},
		{"bad node id", &edgelessapi.BootData{GuestApiHostEndpoint: host.URL, InstanceId: &edgelessapi.InstanceId{NodeId: "node-1", FunctionId: guesttest.NewID().FunctionId}}, connect.CodeInvalidArgument, `"node-1"`},
		{"bad function id", &edgelessapi.BootData{GuestApiHostEndpoint: host.URL, InstanceId: &edgelessapi.InstanceId{NodeId: guesttest.NewID().NodeId, FunctionId: ""}}, connect.CodeInvalidArgument, "function_id"},
		{"no scheme", &edgelessapi.BootData{GuestApiHostEndpoint: strings.TrimPrefix(host.URL, "http://"), InstanceId: guesttest.NewID()}, connect.CodeInvalidArgument, "no scheme"},
		{"no port", &edgelessapi.BootData{GuestApiHostEndpoint: "http://127.0.0.1", InstanceId: guesttest.NewID()}, connect.CodeInvalidArgument, "no port"},
		{"unreachable host", &edgelessapi.BootData{GuestApiHostEndpoint: unreachable, InstanceId: guesttest.NewID()}, connect.CodeUnavailable, unreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := newInstance(t, "grpc", testOptions(t))
			_, err := in.c.Boot(t.Context(), tt.boot)
			wantCode(t, "Boot", err, tt.wantCode)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Boot() error = %q, want it to contain %q", err, tt.wantErr)
			}
			in.wantState(t, guest.PreBooted)
			// The node may retry with good data.
			in.mustBoot(t)
			in.wantState(t, guest.Booted)
		})
	}
}

func TestServer_InitFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		initFn  func() error
		wantErr string
	}{
		{"error", func() error { return errors.New("no config") }, "no config"},
		{"panic", func() error { panic("init exploded") }, "Init panicked: init exploded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := newInstance(t, "grpc", testOptions(t))
			in.mustBoot(t)
			in.fn.initFn = tt.initFn
			_, err := in.c.Init(t.Context(), &edgelessapi.FunctionInstanceInit{})
			wantCode(t, "Init", err, connect.CodeInternal)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Init() error = %q, want it to contain %q", err, tt.wantErr)
			}
			in.wantState(t, guest.Error)
		})
	}
}

func TestServer_StopFails(t *testing.T) {
	t.Parallel()
	in := newInstance(t, "grpc", testOptions(t))
	in.driveTo(t, guest.Initialized)
	in.fn.stopFn = func() error { return errors.New("flush failed") }
	_, err := in.c.Stop(t.Context(), &emptypb.Empty{})
	wantCode(t, "Stop", err, connect.CodeInternal)
	if !strings.Contains(err.Error(), "flush failed") {
		t.Errorf("Stop() error = %q, want it to contain %q", err, "flush failed")
	}
	in.wantState(t, guest.Error)
}

func TestServer_CallReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		callFn   func(ctx context.Context, msg []byte) (guest.Reply, error)
		wantType edgelessapi.CallRetType
		wantMsg  string // exact for REPLY; a substring for ERR
	}{
		{"reply", func(context.Context, []byte) (guest.Reply, error) { return guest.ReplyMsg([]byte("r")), nil }, edgelessapi.CallRetType_CALL_RET_REPLY, "r"},
		{"empty reply", func(context.Context, []byte) (guest.Reply, error) { return guest.ReplyMsg(nil), nil }, edgelessapi.CallRetType_CALL_RET_REPLY, ""},
		{"no reply", func(context.Context, []byte) (guest.Reply, error) { return guest.NoReply(), nil }, edgelessapi.CallRetType_CALL_RET_NO_REPLY, ""},
		{"zero reply", func(context.Context, []byte) (guest.Reply, error) { return guest.Reply{}, nil }, edgelessapi.CallRetType_CALL_RET_NO_REPLY, ""},
		{"error", func(context.Context, []byte) (guest.Reply, error) {
			return guest.ReplyMsg([]byte("x")), errors.New("bad input")
		}, edgelessapi.CallRetType_CALL_RET_ERR, "bad input"},
		{"callee error passed on", func(context.Context, []byte) (guest.Reply, error) {
			return guest.Reply{}, &guest.CallError{Msg: []byte("deep")}
		}, edgelessapi.CallRetType_CALL_RET_ERR, "deep"},
		{"panic", func(context.Context, []byte) (guest.Reply, error) { panic("boom") }, edgelessapi.CallRetType_CALL_RET_ERR, "Call panicked: boom"},
	}
	for _, protocol := range guesttest.Protocols {
		for _, tt := range tests {
			t.Run(protocol+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				in := newInstance(t, protocol, testOptions(t))
				in.driveTo(t, guest.Initialized)
				in.fn.callFn = tt.callFn
				res, err := in.c.Call(t.Context(), event("x"))
				if err != nil {
					t.Fatalf("Call() error = %v", err)
				}
				if res.GetType() != tt.wantType {
					t.Fatalf("Call() type = %v, want %v", res.GetType(), tt.wantType)
				}
				switch tt.wantType {
				case edgelessapi.CallRetType_CALL_RET_ERR:
					if !strings.Contains(string(res.GetMsg()), tt.wantMsg) {
						t.Errorf("Call() ERR msg = %q, want it to contain %q", res.GetMsg(), tt.wantMsg)
					}
				default:
					if string(res.GetMsg()) != tt.wantMsg {
						t.Errorf("Call() msg = %q, want %q", res.GetMsg(), tt.wantMsg)
					}
				}
				// The instance stays up.
				in.fn.callFn = nil
				res, err = in.c.Call(t.Context(), event("again"))
				if err != nil || string(res.GetMsg()) != "again" {
					t.Errorf("Call(%q) after = %v, %v, want the echo", "again", res, err)
				}
				in.wantState(t, guest.Initialized)
			})
		}
	}
}

func TestServer_CastFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		castFn  func(ctx context.Context, msg []byte) error
		wantErr string
	}{
		{"error", func(context.Context, []byte) error { return errors.New("cannot cast") }, "cannot cast"},
		{"panic", func(context.Context, []byte) error { panic("cast exploded") }, "Cast panicked: cast exploded"},
	}
	for _, protocol := range guesttest.Protocols {
		for _, tt := range tests {
			t.Run(protocol+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				in := newInstance(t, protocol, testOptions(t))
				in.driveTo(t, guest.Initialized)
				in.fn.castFn = tt.castFn
				_, err := in.c.Cast(t.Context(), event("x"))
				wantCode(t, "Cast", err, connect.CodeInternal)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Cast() error = %q, want it to contain %q", err, tt.wantErr)
				}
				in.fn.castFn = nil
				if _, err := in.c.Cast(t.Context(), event("again")); err != nil {
					t.Errorf("Cast() after the failure: %v", err)
				}
				in.wantState(t, guest.Initialized)
			})
		}
	}
}

func TestServer_NonUTF8Payloads(t *testing.T) {
	t.Parallel()
	payload := []byte{0xff, 0xfe, 0x00, 0xc3, 0x28, 'a', 0x80}
	for _, protocol := range guesttest.Protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			in := newInstance(t, protocol, testOptions(t))
			in.driveTo(t, guest.Initialized)
			res, err := in.c.Call(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: payload})
			if err != nil {
				t.Fatalf("Call() error = %v", err)
			}
			if !bytes.Equal(res.GetMsg(), payload) {
				t.Errorf("Call(%q) = %q, want %q", payload, res.GetMsg(), payload)
			}
			if _, err := in.c.Cast(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: payload}); err != nil {
				t.Fatalf("Cast() error = %v", err)
			}
			if got := in.fn.casts[0]; !bytes.Equal(got, payload) {
				t.Errorf("function got cast %q, want %q", got, payload)
			}
		})
	}
}

// TestServer_ParallelCalls sends many calls at once: they run concurrently
// up to MaxConcurrency (each call waits until the limit is reached, which a
// serial server never reaches) and never beyond, and each gets its own
// payload back.
func TestServer_ParallelCalls(t *testing.T) {
	t.Parallel()
	const limit, calls = 8, 200
	for _, protocol := range guesttest.Protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			opts.MaxConcurrency = limit
			in := newInstance(t, protocol, opts)
			in.driveTo(t, guest.Initialized)
			var (
				mu        sync.Mutex
				running   int
				maxSeen   int
				limitSeen = make(chan struct{})
			)
			in.fn.callFn = func(ctx context.Context, msg []byte) (guest.Reply, error) {
				mu.Lock()
				running++
				if running > maxSeen {
					maxSeen = running
					if maxSeen == limit {
						close(limitSeen)
					}
				}
				mu.Unlock()
				defer func() {
					mu.Lock()
					running--
					mu.Unlock()
				}()
				select {
				case <-limitSeen:
				case <-ctx.Done():
					return guest.Reply{}, ctx.Err()
				}
				return guest.ReplyMsg(msg), nil
			}
			ctx := ctxTimeout(t, 20*time.Second)
			var wg sync.WaitGroup
			errs := make(chan error, calls)
			for i := range calls {
				wg.Go(func() {
					msg := []byte{byte(i), byte(i >> 8), 0xff}
					res, err := in.c.Call(ctx, &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: msg})
					switch {
					case err != nil:
						errs <- err
					case res.GetType() != edgelessapi.CallRetType_CALL_RET_REPLY || !bytes.Equal(res.GetMsg(), msg):
						errs <- errors.New("call " + string(rune('0'+i%10)) + ": wrong answer " + res.String())
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if maxSeen != limit {
				t.Errorf("at most %d calls ran at once, want exactly %d", maxSeen, limit)
			}
		})
	}
}

func TestServer_SlotWaitHonoursDeadline(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.MaxConcurrency = 1
	in := newInstance(t, "grpc", opts)
	in.driveTo(t, guest.Initialized)
	entered, release := make(chan struct{}), make(chan struct{})
	in.fn.callFn = func(ctx context.Context, msg []byte) (guest.Reply, error) {
		close(entered)
		<-release
		return guest.ReplyMsg(msg), nil
	}
	done := make(chan error, 1)
	go func() {
		_, err := in.c.Call(t.Context(), event("first"))
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := in.c.Call(ctx, event("second"))
	wantCode(t, "Call while the only slot is busy", err, connect.CodeDeadlineExceeded)
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first Call() error = %v", err)
	}
}

// TestServer_StopDrains: Stop refuses new events at once, waits for the
// call in flight, and only then calls Function.Stop.
func TestServer_StopDrains(t *testing.T) {
	t.Parallel()
	in := newInstance(t, "grpc", testOptions(t))
	in.driveTo(t, guest.Initialized)
	entered, release := make(chan struct{}), make(chan struct{})
	var callDone bool
	in.fn.callFn = func(ctx context.Context, msg []byte) (guest.Reply, error) {
		close(entered)
		<-release
		in.fn.mu.Lock()
		callDone = true
		in.fn.mu.Unlock()
		return guest.ReplyMsg(msg), nil
	}
	var doneBeforeStop bool
	in.fn.stopFn = func() error {
		in.fn.mu.Lock()
		doneBeforeStop = callDone
		in.fn.mu.Unlock()
		return nil
	}
	callErr := make(chan error, 1)
	go func() {
		res, err := in.c.Call(t.Context(), event("in flight"))
		if err == nil && string(res.GetMsg()) != "in flight" {
			err = errors.New("in-flight call got " + res.String())
		}
		callErr <- err
	}()
	<-entered
	stopErr := make(chan error, 1)
	go func() {
		_, err := in.c.Stop(t.Context(), &emptypb.Empty{})
		stopErr <- err
	}()
	for in.s.State() != guest.Stopped {
		select {
		case err := <-stopErr:
			t.Fatalf("Stop() returned %v before the call in flight ended", err)
		case <-time.After(time.Millisecond):
		}
	}
	_, err := in.c.Cast(t.Context(), event("late"))
	wantCode(t, "Cast while stopping", err, connect.CodeFailedPrecondition)
	close(release)
	if err := <-callErr; err != nil {
		t.Errorf("in-flight Call() error = %v", err)
	}
	if err := <-stopErr; err != nil {
		t.Fatalf("Stop() error = %v", err)
	}
	if !doneBeforeStop {
		t.Error("Function.Stop ran before the call in flight ended")
	}
}

// TestServer_StopCancelsAfterGrace: a call that outlives the grace is
// cancelled, and Stop completes.
func TestServer_StopCancelsAfterGrace(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.ShutdownGrace = 20 * time.Millisecond
	in := newInstance(t, "grpc", opts)
	in.driveTo(t, guest.Initialized)
	entered := make(chan struct{})
	in.fn.callFn = func(ctx context.Context, msg []byte) (guest.Reply, error) {
		close(entered)
		<-ctx.Done()
		return guest.Reply{}, ctx.Err()
	}
	callRes := make(chan *edgelessapi.CallReturn, 1)
	go func() {
		res, err := in.c.Call(t.Context(), event("stuck"))
		if err != nil {
			t.Errorf("Call() error = %v", err)
		}
		callRes <- res
	}()
	<-entered
	in.mustStop(t)
	in.wantState(t, guest.Stopped)
	res := <-callRes
	if res.GetType() != edgelessapi.CallRetType_CALL_RET_ERR || !strings.Contains(string(res.GetMsg()), "canceled") {
		t.Errorf("stuck Call() = %v %q, want CALL_RET_ERR with %q", res.GetType(), res.GetMsg(), "canceled")
	}
}

// withSecret returns a client context that sends secret in
// guest.SecretHeader (none when secret is empty), for connect-go clients
// (a request header) and grpc-go ones (metadata, whose keys are
// lower-case on the wire).
func withSecret(t *testing.T, secret string) context.Context {
	ctx, ci := connect.NewClientContext(t.Context())
	if secret != "" {
		ci.RequestHeader().Set(guest.SecretHeader, secret)
		ctx = metadata.AppendToOutgoingContext(ctx, guest.SecretHeader, secret)
	}
	return ctx
}

func TestServer_Secret(t *testing.T) {
	t.Parallel()
	for _, protocol := range guesttest.Protocols {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			in := newInstance(t, protocol, testOptions(t))
			if _, err := in.c.Boot(withSecret(t, "s3cret"), in.boot); err != nil {
				t.Fatalf("Boot(secret) = %v", err)
			}
			for _, bad := range []string{"", "other"} {
				_, err := in.c.Init(withSecret(t, bad), &edgelessapi.FunctionInstanceInit{})
				wantCode(t, fmt.Sprintf("Init(secret %q)", bad), err, connect.CodePermissionDenied)
				_, err = in.c.Boot(withSecret(t, bad), in.boot)
				wantCode(t, fmt.Sprintf("repeated Boot(secret %q)", bad), err, connect.CodePermissionDenied)
			}
			ok := withSecret(t, "s3cret")
			if _, err := in.c.Init(ok, &edgelessapi.FunctionInstanceInit{}); err != nil {
				t.Fatalf("Init(secret) = %v", err)
			}
			_, err := in.c.Call(withSecret(t, "other"), event("x"))
			wantCode(t, "Call(wrong secret)", err, connect.CodePermissionDenied)
			_, err = in.c.Cast(withSecret(t, ""), event("x"))
			wantCode(t, "Cast(no secret)", err, connect.CodePermissionDenied)
			_, err = in.c.Stop(withSecret(t, ""), &emptypb.Empty{})
			wantCode(t, "Stop(no secret)", err, connect.CodePermissionDenied)
			in.wantState(t, guest.Initialized)
			if _, err := in.c.Call(ok, event("x")); err != nil {
				t.Errorf("Call(secret) = %v", err)
			}
			if _, err := in.c.Stop(ok, &emptypb.Empty{}); err != nil {
				t.Fatalf("Stop(secret) = %v", err)
			}
			// A new life may bring a new secret.
			in.boot = guesttest.BootData(in.host)
			if _, err := in.c.Boot(withSecret(t, "next"), in.boot); err != nil {
				t.Fatalf("Boot(new secret) after Stop = %v", err)
			}
			_, err = in.c.Init(withSecret(t, "s3cret"), &edgelessapi.FunctionInstanceInit{})
			wantCode(t, "Init(old secret)", err, connect.CodePermissionDenied)
		})
	}
}

// TestServer_NoSecret checks that a node that sends no secret (upstream's)
// drives the function as before.
func TestServer_NoSecret(t *testing.T) {
	t.Parallel()
	in := newInstance(t, "grpc", testOptions(t))
	in.driveTo(t, guest.Initialized)
	if _, err := in.c.Call(t.Context(), event("x")); err != nil {
		t.Errorf("Call() without a secret = %v", err)
	}
	in.mustStop(t)
}
