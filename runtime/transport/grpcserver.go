package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	// Peers may send gzip-compressed messages: grpc-go unpacks them up to
	// the server's MaxRecvMsgSize and refuses the rest (RESOURCE_EXHAUSTED)
	// without unpacking it, so a gzip bomb costs nothing.
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/keepalive"
)

// NewGRPCServer returns a grpc-go server (HTTP/2, gRPC only; TLS when
// c.TLS is set) that reads and sends messages of up to maxBytes and request
// headers of up to 1 MiB, with the stream limit and idle timeout of this
// package, and that accepts the keep-alive pings of this package's clients
// and of connect-go ones.
//
// grpc-go's server writes each response's frames in one batch from its
// writer loop, where net/http's HTTP/2 server flushes frame by frame; only
// hot paths whose measurements favour it are served this way, and they
// lose gRPC-Web, Connect and HTTP/1.1 (which upstream's peers never use).
//
// extra options come after this package's (interceptors, a tap handle).
func (c Config) NewGRPCServer(maxBytes int, extra ...grpc.ServerOption) (*grpc.Server, error) {
	if err := c.check(true); err != nil {
		return nil, err
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxBytes),
		grpc.MaxSendMsgSize(maxBytes),
		// The request headers' bound of the net/http servers
		// (http.DefaultMaxHeaderBytes), not grpc-go's default of 16 MiB.
		grpc.MaxHeaderListSize(http.DefaultMaxHeaderBytes),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: IdleTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: PingInterval / 2, PermitWithoutStream: true}),
		grpc.NumStreamWorkers(StreamWorkers),
	}
	if c.TLS != nil {
		creds := credentials.NewTLS(c.TLS.Clone())
		if c.HandshakeFailed != nil {
			creds = observedCreds{creds, c.HandshakeFailed}
		}
		opts = append(opts, grpc.Creds(creds))
	}
	return grpc.NewServer(append(opts, extra...)...), nil
}

// StreamWorkers is the number of goroutines a grpc-go server of this
// package keeps to run its calls' handlers. Without them grpc-go starts a
// goroutine per call, whose stack then grows by copying as the handler
// goes deeper (a node's GuestAPIHost handler sends the event on through a
// grpc-go client): 6-7% of the node's CPU under load (BenchmarkNode's
// profile, runtime.newstack), about 0.7% with workers, whose stacks stay
// grown. A call that finds every worker busy gets its own goroutine, as
// without them: the count bounds nothing. It covers the load generator's
// 64 senders; idle workers cost a few KiB of stack each.
const StreamWorkers = 64

// observedCreds are TLS server credentials that report failed handshakes
// (Config.HandshakeFailed).
type observedCreds struct {
	credentials.TransportCredentials
	failed func(net.Addr, error)
}

func (c observedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	// io.EOF: closed before the ClientHello, as a TCP port probe does.
	if err != nil && !errors.Is(err, io.EOF) {
		c.failed(conn.RemoteAddr(), err)
	}
	return out, info, err
}

func (c observedCreds) Clone() credentials.TransportCredentials {
	return observedCreds{c.TransportCredentials.Clone(), c.failed}
}

// ServeGRPC serves srv on ln until ctx is done, then stops it gracefully,
// cutting the calls still running after ShutdownGrace. The error names
// what was served where.
func ServeGRPC(ctx context.Context, srv *grpc.Server, ln net.Listener, what string) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s on %s: %w", what, ln.Addr(), err)
	case <-ctx.Done():
	}
	StopGRPC(srv)
	// (A Serve that begins after the stop returns ErrServerStopped.)
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve %s on %s: %w", what, ln.Addr(), err)
	}
	return nil
}

// StopGRPC stops srv gracefully: it refuses new calls at once, lets the
// calls in flight finish for up to ShutdownGrace, then cuts the rest. It
// returns once srv has stopped.
func StopGRPC(srv *grpc.Server) {
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(ShutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		srv.Stop()
		<-stopped
	}
}

// LocalWindowBytes is the fixed HTTP/2 flow-control window, per stream and
// per connection, of the grpc-go links between the node and its functions
// on the same host (LocalServerOptions, LocalDialOptions).
//
// grpc-go sizes its windows by default from a bandwidth-delay estimate: it
// sends a PING with the first DATA frame it receives while no estimate is
// under way, and the peer answers it. A link to a function carries an
// event at a time, so nearly every event costs a PING and its answer, a
// write and a read each way. A fixed window turns the estimate off: on
// this host's loopback or bridge a window of 1 MiB is never the limit
// (a message of 16 MiB takes 16 window updates), and it bounds what a
// function can make the node buffer on one connection. Links to other
// nodes keep the estimate, which a long fat network needs.
const LocalWindowBytes = 1 << 20

// LocalServerOptions are the options of a grpc-go server whose clients run
// on this host (functions calling GuestAPIHost): a fixed window.
func LocalServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(LocalWindowBytes), grpc.StaticConnWindowSize(LocalWindowBytes)}
}

// LocalDialOptions are the options of a grpc-go client of a server on this
// host (the node's client of a function): a fixed window.
func LocalDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(LocalWindowBytes), grpc.WithStaticConnWindowSize(LocalWindowBytes)}
}
