package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

// stubborn serves GuestAPIFunction on the function port like upstream's
// Rust template: Boot, Init, Cast and Stop answer OK, Call echoes, and
// the process neither exits on Stop nor on SIGTERM. With answerStop unset,
// Stop never answers.
func stubborn(answerStop bool) {
	signal.Ignore(syscall.SIGTERM)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewGuestAPIFunctionHandler(stubbornFunction{answerStop: answerStop}))
	srv := &http.Server{Addr: ":7101", Handler: mux, Protocols: &protocols}
	fmt.Println("fakefn: serving, ignoring SIGTERM; answering Stop:", answerStop)
	fmt.Fprintln(os.Stderr, srv.ListenAndServe())
	os.Exit(1)
}

type stubbornFunction struct {
	edgelessapiconnect.UnimplementedGuestAPIFunctionHandler
	answerStop bool
}

func (stubbornFunction) Boot(context.Context, *edgelessapi.BootData) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (stubbornFunction) Init(context.Context, *edgelessapi.FunctionInstanceInit) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (stubbornFunction) Cast(context.Context, *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (stubbornFunction) Call(_ context.Context, in *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: in.GetMsg()}, nil
}

func (f stubbornFunction) Stop(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	fmt.Println("fakefn: Stop received")
	if !f.answerStop {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &emptypb.Empty{}, nil
}
