package container

import (
	"errors"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/moby/moby/client"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

// Request options and messages that never change.
var (
	startOptions   = client.ContainerStartOptions{}
	inspectOptions = client.ContainerInspectOptions{}
	killTerm       = client.ContainerKillOptions{Signal: "SIGTERM"}
	emptyMsg       = &emptypb.Empty{}
)

// newFunctionHTTPClient returns an HTTP client for one function's
// GuestAPIFunction server: gRPC peers in other languages (tonic, grpcio)
// speak HTTP/2 without TLS only. Pings notice a peer that vanished without
// closing the connection.
func newFunctionHTTPClient() (*http.Client, *http.Transport) {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &p,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 15 * time.Second,
			PingTimeout:     5 * time.Second,
		},
	}
	return &http.Client{Transport: tr}, tr
}

// newFunctionClient returns a gRPC client of a function at baseURL with no
// message size limit short of the protobuf maximum.
func newFunctionClient(hc *http.Client, baseURL string) edgelessapiconnect.GuestAPIFunctionClient {
	return edgelessapiconnect.NewGuestAPIFunctionClient(hc, baseURL,
		connect.WithGRPC(), connect.WithReadMaxBytes(maxMessageBytes))
}

// retryableBoot reports whether a failed Boot may succeed later: the
// server is not listening yet (refused, reset, proxied port with no
// backend) or the attempt timed out. A status the function itself sent
// (INVALID_ARGUMENT, INTERNAL, ...) is final.
func retryableBoot(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeDeadlineExceeded, connect.CodeCanceled:
		return true
	}
	return false
}

// transportFailure reports whether err looks like a broken connection
// rather than a status the function sent.
func transportFailure(err error) bool {
	if ce := new(connect.Error); errors.As(err, &ce) && connect.IsWireError(ce) {
		return false // the function answered with this status itself
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeInternal:
		return true
	}
	return false
}
