package container_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// testFunction is an in-process GuestAPIFunction server for grpc:
// instances. It understands the same payload commands as the template's
// example function (a subset), so scenarios run alike against both.
type testFunction struct {
	url string

	mu      sync.Mutex
	id      *edgelessapi.InstanceId
	host    edgelessapiconnect.GuestAPIHostClient
	payload string
	state   []byte
	stopped int
	booted  int
	// down is set by Stop and cleared by Boot: events are then refused
	// with FAILED_PRECONDITION, as a function's state machine does.
	down     bool
	rejectBy error
	// secrets records, per procedure, the SecretHeader of each request.
	secrets map[string][]string
}

var _ edgelessapiconnect.GuestAPIFunctionHandler = (*testFunction)(nil)

// newTestFunction serves a testFunction on 127.0.0.1 over h2c.
func newTestFunction(t testing.TB) *testFunction {
	t.Helper()
	f := &testFunction{secrets: map[string][]string{}}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewGuestAPIFunctionHandler(f))
	srv := transporttest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		proc := path.Base(r.URL.Path)
		f.secrets[proc] = append(f.secrets[proc], r.Header.Get(container.SecretHeader))
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	f.url = srv.URL
	return f
}

// code is the function's code string.
func (f *testFunction) code() string { return "grpc:" + f.url }

func (f *testFunction) Boot(_ context.Context, req *edgelessapi.BootData) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejectBy != nil {
		return nil, f.rejectBy
	}
	if req.GetInstanceId() == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("missing instance_id"))
	}
	hc := transporttest.Client()
	f.host = edgelessapiconnect.NewGuestAPIHostClient(hc, req.GetGuestApiHostEndpoint(), connect.WithGRPC())
	f.id = req.GetInstanceId()
	f.booted++
	f.down = false
	return &emptypb.Empty{}, nil
}

func (f *testFunction) Init(_ context.Context, req *edgelessapi.FunctionInstanceInit) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.payload = req.GetInitPayload()
	f.state = req.GetSerializedState()
	return &emptypb.Empty{}, nil
}

func (f *testFunction) Stop(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped++
	f.down = true
	return &emptypb.Empty{}, nil
}

// errDown is the answer to an event after Stop.
var errDown = connect.NewError(connect.CodeFailedPrecondition, errors.New("stopped: Cast and Call need Initialized"))

func (f *testFunction) isDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *testFunction) Cast(ctx context.Context, req *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	if f.isDown() {
		return nil, errDown
	}
	if _, isCmd, err := f.run(ctx, req.GetMsg()); isCmd {
		return &emptypb.Empty{}, err
	}
	host, id := f.client()
	_, err := host.Cast(ctx, &edgelessapi.OutputEventData{Originator: id, Alias: "output", Msg: req.GetMsg()})
	return &emptypb.Empty{}, err
}

func (f *testFunction) Call(ctx context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	if f.isDown() {
		return nil, errDown
	}
	r, isCmd, err := f.run(ctx, req.GetMsg())
	if !isCmd {
		return reply(req.GetMsg()), nil
	}
	if err != nil {
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_ERR, Msg: []byte(err.Error())}, nil
	}
	return r, nil
}

func (f *testFunction) client() (edgelessapiconnect.GuestAPIHostClient, *edgelessapi.InstanceId) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.host, f.id
}

func reply(msg []byte) *edgelessapi.CallReturn {
	return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: msg}
}

var okReply = reply([]byte("ok"))

// run executes a payload command.
func (f *testFunction) run(ctx context.Context, msg []byte) (*edgelessapi.CallReturn, bool, error) {
	host, id := f.client()
	cmd, rest, _ := bytes.Cut(msg, []byte(" "))
	word := func() string {
		w, r, _ := bytes.Cut(rest, []byte(" "))
		rest = r
		return string(w)
	}
	switch string(cmd) {
	case "recast":
		alias := word()
		_, err := host.Cast(ctx, &edgelessapi.OutputEventData{Originator: id, Alias: alias, Msg: rest})
		return okReply, true, err
	case "recall":
		alias := word()
		r, err := host.Call(ctx, &edgelessapi.OutputEventData{Originator: id, Alias: alias, Msg: rest})
		return r, true, err
	case "castraw", "callraw":
		dst := &edgelessapi.InstanceId{NodeId: word(), FunctionId: word()}
		if string(cmd) == "castraw" {
			_, err := host.CastRaw(ctx, &edgelessapi.OutputEventDataRaw{Originator: id, Dst: dst, Msg: rest})
			return okReply, true, err
		}
		r, err := host.CallRaw(ctx, &edgelessapi.OutputEventDataRaw{Originator: id, Dst: dst, Msg: rest})
		return r, true, err
	case "delayed":
		ms, _ := strconv.ParseUint(word(), 10, 64)
		alias := word()
		_, err := host.DelayedCast(ctx, &edgelessapi.DelayedEventData{Originator: id, Alias: alias, Msg: rest, Delay: ms})
		return okReply, true, err
	case "sync":
		_, err := host.Sync(ctx, &edgelessapi.SyncData{Originator: id, SerializedState: rest})
		if err == nil {
			f.mu.Lock()
			f.state = bytes.Clone(rest)
			f.mu.Unlock()
		}
		return okReply, true, err
	case "state":
		f.mu.Lock()
		defer f.mu.Unlock()
		return reply(bytes.Clone(f.state)), true, nil
	case "payload":
		f.mu.Lock()
		defer f.mu.Unlock()
		return reply([]byte(f.payload)), true, nil
	case "log":
		target := word()
		_, err := host.TelemetryLog(ctx, &edgelessapi.TelemetryLogEvent{Originator: id,
			LogLevel: edgelessapi.TelemetryLogLevel_LOG_INFO, Target: target, Msg: string(rest)})
		return okReply, true, err
	case "self":
		r, err := host.Slf(ctx, &emptypb.Empty{})
		if err != nil {
			return nil, true, err
		}
		return reply([]byte(r.GetNodeId() + " " + r.GetFunctionId())), true, nil
	case "sleep":
		ms, _ := strconv.Atoi(word())
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return reply([]byte("slept")), true, nil
		case <-ctx.Done():
			return nil, true, ctx.Err()
		}
	case "noreply":
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, true, nil
	case "fail":
		return nil, true, fmt.Errorf("fail: %s", rest)
	}
	return nil, false, nil
}

func (f *testFunction) counts() (booted, stopped int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.booted, f.stopped
}

// secretsSeen returns a copy of the SecretHeader values received, per
// procedure.
func (f *testFunction) secretsSeen() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string][]string, len(f.secrets))
	for k, v := range f.secrets {
		out[k] = append([]string(nil), v...)
	}
	return out
}
