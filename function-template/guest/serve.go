package guest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	// Peers may send gzip-compressed messages: grpc-go unpacks them up to
	// MaxRecvMsgSize and refuses the rest (RESOURCE_EXHAUSTED).
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/keepalive"
)

// compressMinBytes is the smallest message gzip-compressed for a peer that
// accepts gzip, as on the node (runtime/transport.CompressMinBytes): a few
// bytes cost more to compress than they save. (grpc-go compresses nothing
// unless asked to; it unpacks what peers send gzip-compressed.)
const compressMinBytes = 1024

// Limits and timeouts of the server's connections.
const (
	// readHeaderTimeout bounds the first bytes of a connection, the HTTP/2
	// handshake and an HTTP/1.1 request's headers.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes a connection without requests for this long.
	idleTimeout = 5 * time.Minute
	// maxConcurrentStreams is the requests one connection may have open at
	// once (as the node's servers): a nested call holds one while it waits.
	// Cast and Call beyond Options.MaxConcurrency wait for a slot.
	maxConcurrentStreams = 1000
	// minPingInterval is the shortest interval of keep-alive pings the
	// server accepts, with or without requests in flight: the node pings
	// an idle connection every 15 s (grpc-go's default, 5 minutes, would
	// make the server close the node's connection with ENHANCE_YOUR_CALM).
	minPingInterval = 5 * time.Second
)

// localWindowBytes is the fixed HTTP/2 flow-control window, per stream and
// per connection, of the function's links to its node (its server of
// GuestAPIFunction and its client of GuestAPIHost), as the node's own
// transport.LocalWindowBytes.
//
// grpc-go otherwise sizes its windows from a bandwidth-delay estimate: it
// sends a PING with the first DATA frame it receives while no estimate is
// under way, and the node must read it and answer. A function's links
// carry an event at a time, so nearly every event would cost the node a
// read and a write more on each link. The node is on the same host: 1 MiB
// is never the limit there.
const localWindowBytes = 1 << 20

// streamWorkers is the number of goroutines that run the server's handlers
// (grpc-go's NumStreamWorkers; a call that finds them all busy gets a
// goroutine of its own, as without them). The node delivers an instance's
// casts one at a time, so a few suffice. A fresh goroutine per call grows
// its stack by copying on the way into the function and the host client:
// in BenchmarkNode, runtime.morestack took about 7% of a function's CPU,
// and four workers gave 1.16-1.18x the events/s (two alternating pairs).
const streamWorkers = 4

// newGRPCServer returns the grpc-go server of Serve, with the service
// registered.
func (s *Server) newGRPCServer() *grpc.Server {
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(s.opts.MaxPayloadBytes),
		grpc.MaxSendMsgSize(s.opts.MaxPayloadBytes),
		// The request headers' bound of the HTTP/1.1 side (net/http's
		// http.DefaultMaxHeaderBytes), not grpc-go's default of 16 MiB:
		// headers are read before the secret is checked.
		grpc.MaxHeaderListSize(http.DefaultMaxHeaderBytes),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.ConnectionTimeout(readHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPingInterval, PermitWithoutStream: true}),
		grpc.StaticStreamWindowSize(localWindowBytes),
		grpc.StaticConnWindowSize(localWindowBytes),
		grpc.NumStreamWorkers(streamWorkers),
	)
	s.RegisterGRPC(srv)
	return srv
}

// Serve serves the GuestAPIFunction service on ln until ctx is done, then
// shuts down: it stops accepting requests, lets those in flight finish
// within Options.ShutdownGrace (then cancels them), calls Function.Stop if
// the instance is still Initialized, and returns nil.
//
// gRPC over h2c (what nodes speak) is served by grpc-go; HTTP/1.1 (Connect,
// gRPC-Web, curl) by the connect-go Handler, on the same port.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	gs := s.newGRPCServer()
	mux := http.NewServeMux()
	mux.Handle(s.Handler())
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	hs := &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	pm := newProtocolMux(ln, readHeaderTimeout)
	muxErr, grpcErr, httpErr := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { muxErr <- pm.run() }()
	go func() { grpcErr <- gs.Serve(pm.h2) }()
	go func() { httpErr <- hs.Serve(pm.http1) }()
	sockErr := make(chan error, 1)
	if s.sockLn != nil {
		// (grpc-go closes it when it stops.)
		go func() { sockErr <- gs.Serve(s.sockLn) }()
		s.log.InfoContext(ctx, "serving GuestAPIFunction", "addr", ln.Addr().String(), "node_socket", s.sockLn.Addr().String())
	} else {
		s.log.InfoContext(ctx, "serving GuestAPIFunction", "addr", ln.Addr().String())
	}

	var failed error
	select {
	case failed = <-muxErr:
		if failed == nil {
			failed = net.ErrClosed // closed by someone else
		}
	case failed = <-grpcErr:
	case failed = <-httpErr:
	case failed = <-sockErr:
	case <-ctx.Done():
	}
	if failed != nil {
		_ = pm.close()
		gs.Stop()
		_ = hs.Close()
		s.shutdownFunction(ctx)
		return fmt.Errorf("serve GuestAPIFunction on %s: %w", ln.Addr(), failed)
	}
	s.log.Info("shutting down", "grace", s.opts.ShutdownGrace)
	_ = pm.close()
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownGrace)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	httpDone := hs.Shutdown(graceCtx)
	select {
	case <-stopped:
	case <-graceCtx.Done():
	}
	if httpDone != nil || graceCtx.Err() != nil {
		s.log.Warn("requests still in flight after the grace: cancelling them")
		s.cancelEvents()
		gs.Stop()
		_ = hs.Close()
		<-stopped
	}
	s.shutdownFunction(ctx)
	errcs := []chan error{grpcErr, httpErr}
	if s.sockLn != nil {
		errcs = append(errcs, sockErr)
	}
	for _, errc := range errcs {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve GuestAPIFunction on %s: %w", ln.Addr(), err)
		}
	}
	s.log.Info("shut down")
	return nil
}

// shutdownFunction stops the function (Function.Stop if Initialized) and
// closes the host connection, within Options.ShutdownGrace.
func (s *Server) shutdownFunction(ctx context.Context) {
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownGrace)
	defer cancelStop()
	s.shutdown(stopCtx)
}

// ListenAndServe serves fn on opts.Addr until ctx is done (see
// Server.Serve). With opts.GuestSockets set it first dials the node's
// function socket there and, if that works, serves the node over it too
// (see dialListener); if not, it logs why and serves on TCP only. It dials
// before it listens, so a node that sees the TCP port answer knows that a
// function able to use the socket has already dialled it.
func ListenAndServe(ctx context.Context, fn Function, opts Options) error {
	opts = opts.withDefaults()
	s := NewServer(fn, opts)
	if opts.GuestSockets != "" {
		sl, err := dialGuestSocket(ctx, opts.GuestSockets)
		if err != nil {
			s.log.WarnContext(ctx, "the node's function socket is unusable; serving on TCP only", "dir", opts.GuestSockets, "error", err)
		} else {
			s.sockLn = sl
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		if s.sockLn != nil {
			_ = s.sockLn.Close()
		}
		return fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Run is the whole main program of a function: it reads the options from
// args and getenv (see ParseArgs), installs a text slog logger on stderr as
// the default logger, and serves fn until ctx is done or the process gets
// SIGTERM or SIGINT, after which it shuts down cleanly and returns nil.
func Run(ctx context.Context, fn Function, args []string, getenv func(string) string) error {
	opts, level, err := ParseArgs(args, getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	opts.Logger = logger
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	return ListenAndServe(ctx, fn, opts)
}
