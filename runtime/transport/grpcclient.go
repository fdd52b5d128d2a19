package transport

import (
	"fmt"
	"net/url"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// ReconnectMaxDelay is the longest pause between a grpc-go client's
// attempts to reconnect to a peer that went away.
const ReconnectMaxDelay = time.Second

// NewGRPCConn returns a grpc-go client connection to the gRPC server at
// rawURL (http://host:port, or https:// with TLS) that sends and reads
// messages of up to maxBytes, with the keep-alive pings of this package,
// over TLS when c.TLS is set (the same config as the connect-go clients). It does no I/O: the
// connection is made by the first call, within that call's deadline.
//
// grpc-go's client writes a request's HEADERS and DATA frames in one
// batch from a single writer loop; net/http's HTTP/2 client (under
// connect-go) writes and flushes them one by one, which costs a system
// call each (see the README's benchmark section). Only hot paths whose
// measurements favour it use this client; the wire is the same gRPC.
//
// extra options come last, so they may override this package's (a
// dialer, connect parameters, interceptors, a stats handler).
func (c Config) NewGRPCConn(rawURL string, maxBytes int, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if err := c.check(false); err != nil {
		return nil, err
	}
	if err := c.CheckURL(rawURL); err != nil {
		return nil, err
	}
	u, _ := url.Parse(rawURL) // CheckURL parsed it
	creds := insecure.NewCredentials()
	if c.TLS != nil { // http:// URLs too, as the connect-go clients of this package
		creds = credentials.NewTLS(c.TLS.Clone())
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxBytes), grpc.MaxCallSendMsgSize(maxBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: PingInterval, Timeout: PingTimeout}),
		// grpc-go's default reconnect backoff grows to 2 minutes, during
		// which calls fail at once: a peer that restarts would stay
		// unreachable that long. Retry within seconds, as net/http's
		// fresh dial per request would.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMaxDelay},
			MinConnectTimeout: DialTimeout,
		}),
	}
	conn, err := grpc.NewClient("passthrough:///"+u.Host, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("gRPC client of %s: %w", rawURL, err)
	}
	return conn, nil
}
