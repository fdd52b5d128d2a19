// Command nopinvocation serves a FunctionInvocation that accepts every
// event and does nothing (grpc-go with its defaults but the message limits), on a free
// loopback port, in a process of its own: BenchmarkNode's floor of a
// loopback Handle between two processes. It prints its URL on one line and
// serves until its standard input closes (its parent ended).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

type nop struct {
	edgelessapi.UnimplementedFunctionInvocationServer
}

func (nop) Handle(context.Context, *edgelessapi.Event) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// grpc-go's server with its defaults but the message limits: the
	// reference implementation.
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(transport.DefaultPayloadMaxBytes), grpc.MaxSendMsgSize(transport.DefaultPayloadMaxBytes))
	edgelessapi.RegisterFunctionInvocationServer(srv, nop{})
	fmt.Println("http://" + ln.Addr().String())
	go srv.Serve(ln)
	io.Copy(io.Discard, os.Stdin)
	srv.Stop()
}
