package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// example is an example function served in process, booted against a fake
// node and initialised.
type example struct {
	c    edgelessapiconnect.GuestAPIFunctionClient
	host *guesttest.Host
	me   *edgelessapi.InstanceId
}

func startExample(t *testing.T, protocol, initPayload string, state []byte) *example {
	t.Helper()
	host := guesttest.NewHost(t)
	_, url := guesttest.StartServer(t, &function{}, guest.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	c := guesttest.NewClient(t, protocol, url)
	boot := guesttest.BootData(host)
	if _, err := c.Boot(t.Context(), boot); err != nil {
		t.Fatalf("Boot() error = %v", err)
	}
	if _, err := c.Init(t.Context(), &edgelessapi.FunctionInstanceInit{InitPayload: initPayload, SerializedState: state}); err != nil {
		t.Fatalf("Init(%q) error = %v", initPayload, err)
	}
	return &example{c: c, host: host, me: boot.InstanceId}
}

func (e *example) call(t *testing.T, payload []byte) *edgelessapi.CallReturn {
	t.Helper()
	res, err := e.c.Call(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: payload})
	if err != nil {
		t.Fatalf("Call(%q) error = %v", payload, err)
	}
	return res
}

var (
	reply   = edgelessapi.CallRetType_CALL_RET_REPLY
	noReply = edgelessapi.CallRetType_CALL_RET_NO_REPLY
	callErr = edgelessapi.CallRetType_CALL_RET_ERR
)

// TestCall_Commands runs every command of the payload language as a Call
// and checks the answer and what reached the host.
func TestCall_Commands(t *testing.T) {
	t.Parallel()
	other := guesttest.NewID()
	binary := []byte{0xff, 0x00, 0xfe, ' ', 0xc3}
	tests := []struct {
		name      string
		payload   []byte
		hostReply *edgelessapi.CallReturn // answer of host Call/CallRaw
		slf       *edgelessapi.InstanceId
		wantType  edgelessapi.CallRetType
		wantMsg   string // exact for REPLY, a substring for ERR
		// wantHost builds the one request the host must get (nil: none).
		wantHost func(me *edgelessapi.InstanceId) (string, proto.Message)
	}{
		{
			name: "recast", payload: []byte("recast out hello  world "), wantType: reply, wantMsg: "ok",
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "Cast", &edgelessapi.OutputEventData{Originator: me, Alias: "out", Msg: []byte("hello  world ")}
			},
		},
		{
			name: "recast binary", payload: append([]byte("recast out "), binary...), wantType: reply, wantMsg: "ok",
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "Cast", &edgelessapi.OutputEventData{Originator: me, Alias: "out", Msg: binary}
			},
		},
		{
			name: "castraw", payload: []byte("castraw " + other.NodeId + " " + other.FunctionId + " raw msg"), wantType: reply, wantMsg: "ok",
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "CastRaw", &edgelessapi.OutputEventDataRaw{Originator: me, Dst: other, Msg: []byte("raw msg")}
			},
		},
		{
			name: "recall reply", payload: []byte("recall svc q?"), wantType: reply, wantMsg: "answer",
			hostReply: &edgelessapi.CallReturn{Type: reply, Msg: []byte("answer")},
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "Call", &edgelessapi.OutputEventData{Originator: me, Alias: "svc", Msg: []byte("q?")}
			},
		},
		{
			name: "recall no reply", payload: []byte("recall svc q?"), wantType: noReply,
			hostReply: &edgelessapi.CallReturn{Type: noReply},
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "Call", &edgelessapi.OutputEventData{Originator: me, Alias: "svc", Msg: []byte("q?")}
			},
		},
		{
			name: "recall err", payload: []byte("recall svc q?"), wantType: callErr, wantMsg: "CALL_RET_ERR",
			hostReply: &edgelessapi.CallReturn{Type: callErr},
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "Call", &edgelessapi.OutputEventData{Originator: me, Alias: "svc", Msg: []byte("q?")}
			},
		},
		{
			name: "callraw", payload: []byte("callraw " + other.NodeId + " " + other.FunctionId + " q"), wantType: reply, wantMsg: "raw answer",
			hostReply: &edgelessapi.CallReturn{Type: reply, Msg: []byte("raw answer")},
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "CallRaw", &edgelessapi.OutputEventDataRaw{Originator: me, Dst: other, Msg: []byte("q")}
			},
		},
		{
			name: "delayed", payload: []byte("delayed 250 self later msg"), wantType: reply, wantMsg: "ok",
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "DelayedCast", &edgelessapi.DelayedEventData{Originator: me, Alias: "self", Msg: []byte("later msg"), Delay: 250}
			},
		},
		{
			name: "sync", payload: []byte("sync s t"), wantType: reply, wantMsg: "ok",
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "Sync", &edgelessapi.SyncData{Originator: me, SerializedState: []byte("s t")}
			},
		},
		{name: "state from init", payload: []byte("state"), wantType: reply, wantMsg: "init state"},
		{
			name: "log", payload: []byte("log tgt a line"), wantType: reply, wantMsg: "ok",
			wantHost: func(me *edgelessapi.InstanceId) (string, proto.Message) {
				return "TelemetryLog", &edgelessapi.TelemetryLogEvent{Originator: me, LogLevel: edgelessapi.TelemetryLogLevel_LOG_INFO, Target: "tgt", Msg: "a line"}
			},
		},
		{
			name: "self", payload: []byte("self"), slf: other, wantType: reply, wantMsg: other.NodeId + " " + other.FunctionId,
			wantHost: func(*edgelessapi.InstanceId) (string, proto.Message) { return "Slf", &emptypb.Empty{} },
		},
		{name: "sleep", payload: []byte("sleep 1"), wantType: reply, wantMsg: "slept"},
		{name: "noreply", payload: []byte("noreply"), wantType: noReply},
		{name: "fail", payload: []byte("fail on purpose"), wantType: callErr, wantMsg: "on purpose"},
		{name: "panic", payload: []byte("panic"), wantType: callErr, wantMsg: "panicked"},
		{name: "echo", payload: []byte("hello world"), wantType: reply, wantMsg: "hello world"},
		{name: "echo binary", payload: binary, wantType: reply, wantMsg: string(binary)},
		{name: "echo empty", payload: nil, wantType: reply, wantMsg: ""},
		{name: "command prefix is not a command", payload: []byte("recasting"), wantType: reply, wantMsg: "recasting"},
		{name: "missing alias", payload: []byte("recast"), wantType: callErr, wantMsg: "recast: missing ALIAS"},
		{name: "missing function id", payload: []byte("castraw " + other.NodeId), wantType: callErr, wantMsg: "castraw: missing FUNCTION_ID"},
		{name: "bad delay", payload: []byte("delayed soon self m"), wantType: callErr, wantMsg: `MS "soon"`},
		{name: "bad sleep", payload: []byte("sleep -1"), wantType: callErr, wantMsg: `MS "-1"`},
		{name: "bad exit", payload: []byte("exit 300"), wantType: callErr, wantMsg: `CODE "300"`},
	}
	for _, protocol := range guesttest.Protocols {
		for _, tt := range tests {
			t.Run(protocol+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				e := startExample(t, protocol, "", []byte("init state"))
				if tt.hostReply != nil {
					e.host.SetCallReply(func(guesttest.Request) (*edgelessapi.CallReturn, error) { return tt.hostReply, nil })
				}
				e.host.SetSlf(tt.slf)
				res := e.call(t, tt.payload)
				if res.GetType() != tt.wantType {
					t.Fatalf("Call(%q) = %v %q, want %v", tt.payload, res.GetType(), res.GetMsg(), tt.wantType)
				}
				if tt.wantType == callErr {
					if !strings.Contains(string(res.GetMsg()), tt.wantMsg) {
						t.Errorf("Call(%q) ERR msg = %q, want it to contain %q", tt.payload, res.GetMsg(), tt.wantMsg)
					}
				} else if string(res.GetMsg()) != tt.wantMsg {
					t.Errorf("Call(%q) = %q, want %q", tt.payload, res.GetMsg(), tt.wantMsg)
				}
				got := e.host.Requests()
				if tt.wantHost == nil {
					if len(got) != 0 {
						t.Errorf("host got %v, want nothing", got)
					}
					return
				}
				method, want := tt.wantHost(e.me)
				if len(got) != 1 || got[0].Method != method {
					t.Fatalf("host got %v, want one %s", got, method)
				}
				if d, ok := got[0].Msg.(*edgelessapi.DelayedEventData); ok {
					if len(d.GetMetadata().GetTraceId()) != 16 || len(d.GetMetadata().GetSpanId()) != 8 {
						t.Errorf("DelayedCast metadata = %v, want 16-byte trace id, 8-byte span id", d.GetMetadata())
					}
					d.Metadata = nil
				}
				if !proto.Equal(got[0].Msg, want) {
					t.Errorf("host got %s %v, want %v", method, got[0].Msg, want)
				}
			})
		}
	}
}

func TestCall_SyncThenState(t *testing.T) {
	t.Parallel()
	e := startExample(t, "grpc", "", nil)
	if res := e.call(t, []byte("state")); res.GetType() != reply || len(res.GetMsg()) != 0 {
		t.Errorf("state before any sync = %v %q, want an empty reply", res.GetType(), res.GetMsg())
	}
	state := []byte{'s', 0xff, ' ', 'x'}
	e.call(t, append([]byte("sync "), state...))
	if res := e.call(t, []byte("state")); !bytes.Equal(res.GetMsg(), state) {
		t.Errorf("state after sync = %q, want %q", res.GetMsg(), state)
	}
}

func TestCast_DefaultRecastsToOutput(t *testing.T) {
	t.Parallel()
	for _, protocol := range guesttest.Protocols {
		for _, payload := range [][]byte{[]byte("hello world"), {0xff, 0xfe, 0x00}, nil} {
			t.Run(protocol+"/"+string(payload), func(t *testing.T) {
				t.Parallel()
				e := startExample(t, protocol, "", nil)
				if _, err := e.c.Cast(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: payload}); err != nil {
					t.Fatalf("Cast(%q) error = %v", payload, err)
				}
				got := e.host.Wait(t, 1)
				want := &edgelessapi.OutputEventData{Originator: e.me, Alias: "output", Msg: payload}
				if len(got) != 1 || got[0].Method != "Cast" || !proto.Equal(got[0].Msg, want) {
					t.Errorf("host got %v, want Cast %v", got, want)
				}
			})
		}
	}
}

func TestCast_Commands(t *testing.T) {
	t.Parallel()
	e := startExample(t, "grpc", "", nil)
	if _, err := e.c.Cast(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte("recast elsewhere m")}); err != nil {
		t.Fatalf("Cast(recast) error = %v", err)
	}
	want := &edgelessapi.OutputEventData{Originator: e.me, Alias: "elsewhere", Msg: []byte("m")}
	if got := e.host.Wait(t, 1); !proto.Equal(got[0].Msg, want) {
		t.Errorf("host got %v, want Cast %v", got, want)
	}
	_, err := e.c.Cast(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte("fail in a cast")})
	if connect.CodeOf(err) != connect.CodeInternal || !strings.Contains(err.Error(), "in a cast") {
		t.Errorf("Cast(fail) error = %v, want INTERNAL with the message", err)
	}
}

// TestCast_Delay: with cast-delay-ms the re-cast waits; a cast whose
// deadline ends first is cancelled and sends nothing.
func TestCast_Delay(t *testing.T) {
	t.Parallel()
	e := startExample(t, "grpc", "cast-delay-ms=60000", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := e.c.Cast(ctx, &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte("late")})
	if code := connect.CodeOf(err); code != connect.CodeDeadlineExceeded && code != connect.CodeCanceled {
		t.Errorf("Cast with a 60 s delay and a 50 ms deadline: error = %v, want DEADLINE_EXCEEDED", err)
	}
	if got := e.host.Requests(); len(got) != 0 {
		t.Errorf("host got %v, want nothing", got)
	}

	e = startExample(t, "grpc", " cast-delay-ms = 5 ,other=1", nil)
	if _, err := e.c.Cast(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte("soon")}); err != nil {
		t.Fatalf("Cast with a 5 ms delay: %v", err)
	}
	if got := e.host.Wait(t, 1); got[0].Method != "Cast" {
		t.Errorf("host got %v, want a Cast", got)
	}
}

func TestParseInitPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload     string
		wantDelay   time.Duration
		wantUnknown []string
		wantErr     string
	}{
		{payload: "", wantDelay: 0},
		{payload: "cast-delay-ms=1000", wantDelay: time.Second},
		{payload: "a=b, cast-delay-ms=0 ,,hello", wantUnknown: []string{"a", "hello"}},
		{payload: "cast-delay-ms=-1", wantErr: `cast-delay-ms="-1"`},
		{payload: "cast-delay-ms=1s", wantErr: `cast-delay-ms="1s"`},
		{payload: "cast-delay-ms=", wantErr: `cast-delay-ms=""`},
	}
	for _, tt := range tests {
		got, err := parseInitPayload(tt.payload)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseInitPayload(%q) error = %v, want it to contain %q", tt.payload, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.castDelay != tt.wantDelay || strings.Join(got.unknown, ",") != strings.Join(tt.wantUnknown, ",") {
			t.Errorf("parseInitPayload(%q) = %v, %v, %v, want %v, %v", tt.payload, got.castDelay, got.unknown, err, tt.wantDelay, tt.wantUnknown)
		}
	}
}

func TestInit_BadOption(t *testing.T) {
	t.Parallel()
	host := guesttest.NewHost(t)
	s, url := guesttest.StartServer(t, &function{}, guest.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	c := guesttest.NewClient(t, "grpc", url)
	if _, err := c.Boot(t.Context(), guesttest.BootData(host)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Init(t.Context(), &edgelessapi.FunctionInstanceInit{InitPayload: "cast-delay-ms=soon"})
	if connect.CodeOf(err) != connect.CodeInternal || !strings.Contains(err.Error(), "cast-delay-ms") {
		t.Errorf("Init(cast-delay-ms=soon) error = %v, want INTERNAL naming the option", err)
	}
	if s.State() != guest.Error {
		t.Errorf("State() = %v, want Error", s.State())
	}
}
