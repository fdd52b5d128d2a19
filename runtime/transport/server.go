package transport

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// ShutdownGrace is how long Serve lets requests in flight finish after its
// ctx is done before it closes their connections.
const ShutdownGrace = 5 * time.Second

// NewServer returns a server of h for gRPC peers: HTTP/1.1 and h2c, or with
// c.TLS HTTP/1.1 and HTTP/2 over TLS (client certificates required when the
// config asks for them), with the header and idle timeouts and HTTP/2
// settings of this package; ReadHeaderTimeout also bounds the TLS
// handshake. Serve it with ServeListener (or Serve), which picks TLS. Its
// error log goes to log at debug level (nil: slog.Default()), but for the
// TLS handshakes that fail, which go to c.HandshakeFailed when it is set
// (a connection closed before its ClientHello, a port probe, is not
// reported).
func (c Config) NewServer(h http.Handler, log *slog.Logger) (*http.Server, error) {
	if err := c.check(true); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	var p http.Protocols
	p.SetHTTP1(true)
	srv := &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: MaxConcurrentStreams},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if c.TLS != nil && c.HandshakeFailed != nil {
		srv.ErrorLog = stdlog.New(handshakeWatch{rest: srv.ErrorLog, failed: c.HandshakeFailed}, "", 0)
	}
	if c.TLS != nil {
		p.SetHTTP2(true)
		srv.TLSConfig = c.TLS.Clone()
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	return srv, nil
}

// NewServer returns a plain-text server of h (see Config.NewServer).
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	srv, _ := Config{}.NewServer(h, log) // a zero Config cannot fail
	return srv
}

// ServeListener serves srv on ln, with TLS when srv was built with it, and
// returns what srv.Serve returns.
func ServeListener(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// Serve serves srv on ln until ctx is done, then shuts srv down, closing
// the connections of requests still running after ShutdownGrace. It closes
// ln. The error names what (e.g. "guest api host") was served where.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, what string) error {
	errc := make(chan error, 1)
	go func() { errc <- ServeListener(srv, ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s on %s: %w", what, ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s on %s: %w", what, ln.Addr(), err)
	}
	return nil
}

// httpHandshakeError is how net/http's server begins the error-log line of
// a failed TLS handshake ("...from <addr>: <reason>"); it has no other
// hook for them.
const httpHandshakeError = "http: TLS handshake error from "

// handshakeWatch is a net/http server's error log that reports the failed
// TLS handshakes to failed and passes every other line to rest.
type handshakeWatch struct {
	rest   *stdlog.Logger
	failed func(net.Addr, error)
}

func (w handshakeWatch) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	rest, ok := strings.CutPrefix(line, httpHandshakeError)
	if !ok {
		w.rest.Print(line)
		return len(p), nil
	}
	// The address has no ": " (an IPv6 one has colons, no space after).
	addr, reason, _ := strings.Cut(rest, ": ")
	if reason == "EOF" { // closed before the ClientHello: a port probe
		return len(p), nil
	}
	var remote net.Addr = stringAddr(addr)
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		remote = net.TCPAddrFromAddrPort(ap)
	}
	w.failed(remote, errors.New(reason))
	return len(p), nil
}

// stringAddr is an address net/http printed that does not parse as ip:port.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
