package guesttest

import (
	"context"
	"net"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

// Protocols are the protocols a function server should be tested with:
// Connect over HTTP/1.1; gRPC over h2c as the node dials, with connect-go's
// client ("grpc") and with grpc-go's ("grpc-go").
var Protocols = []string{"connect", "grpc", "grpc-go"}

// StartServer serves fn with guest.Server.Serve on a 127.0.0.1 port and
// returns the server and its base URL. t.Cleanup shuts it down and fails
// the test if Serve did not return nil.
func StartServer(t testing.TB, fn guest.Function, opts guest.Options) (*guest.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := guest.NewServer(fn, opts)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve() = %v, want nil", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}

// NewClient returns a GuestAPIFunction client of the server at url that
// speaks protocol, one of Protocols. Its errors are *connect.Error, also
// for "grpc-go" (converted from the gRPC status). Request headers (the
// instance secret) are set on the context: with connect.NewClientContext
// for "connect" and "grpc", with metadata.AppendToOutgoingContext for
// "grpc-go".
func NewClient(t testing.TB, protocol, url string) edgelessapiconnect.GuestAPIFunctionClient {
	t.Helper()
	switch protocol {
	case "connect":
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		return edgelessapiconnect.NewGuestAPIFunctionClient(&http.Client{Transport: tr}, url)
	case "grpc-go":
		return newGRPCClient(t, url)
	case "grpc":
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &p}
		t.Cleanup(tr.CloseIdleConnections)
		return edgelessapiconnect.NewGuestAPIFunctionClient(&http.Client{Transport: tr}, url,
			connect.WithGRPC(), connect.WithReadMaxBytes(guest.DefaultMaxPayloadBytes), connect.WithSendMaxBytes(guest.DefaultMaxPayloadBytes))
	}
	t.Fatalf("unknown protocol %q, want one of %q", protocol, Protocols)
	return nil
}

// NewID returns a fresh instance id.
func NewID() *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: uuid.NewString(), FunctionId: uuid.NewString()}
}

// BootData returns the BootData of a new instance of host, with a fresh id.
func BootData(host *Host) *edgelessapi.BootData {
	return &edgelessapi.BootData{GuestApiHostEndpoint: host.URL, InstanceId: NewID()}
}
