package container

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"github.com/moby/moby/client"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/transport"
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
// speak HTTP/2 without TLS only.
func newFunctionHTTPClient() (*http.Client, *http.Transport) {
	return transport.NewClient()
}

// SecretHeader is the request header (gRPC metadata) that carries an
// instance's secret on every call the node makes into its function, from
// Boot on. A function that received one at Boot may refuse requests
// without it (the Go SDK does); upstream's templates ignore it.
const SecretHeader = "Edgeless-Instance-Secret"

// newFunctionClient returns a gRPC client of a function at baseURL that
// sends and reads messages of up to maxBytes, and sends secret in
// SecretHeader on every request.
func newFunctionClient(hc *http.Client, baseURL string, maxBytes int, secret string) edgelessapiconnect.GuestAPIFunctionClient {
	withSecret := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set(SecretHeader, secret)
			return next(ctx, req)
		}
	})
	opts := append(transport.ClientOptions(maxBytes), connect.WithInterceptors(withSecret))
	return edgelessapiconnect.NewGuestAPIFunctionClient(hc, baseURL, opts...)
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
