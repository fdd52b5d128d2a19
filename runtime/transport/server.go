package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ShutdownGrace is how long Serve lets requests in flight finish after its
// ctx is done before it closes their connections.
const ShutdownGrace = 5 * time.Second

// NewServer returns a server of h for gRPC peers: HTTP/1.1 and h2c, with the
// header and idle timeouts and HTTP/2 settings of this package. Its error
// log goes to log at debug level (nil: slog.Default()).
func (c Config) NewServer(h http.Handler, log *slog.Logger) (*http.Server, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: MaxConcurrentStreams},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}, nil
}

// NewServer returns a plain-text server of h (see Config.NewServer).
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	srv, _ := Config{}.NewServer(h, log) // a zero Config cannot fail
	return srv
}

// Serve serves srv on ln until ctx is done, then shuts srv down, closing
// the connections of requests still running after ShutdownGrace. It closes
// ln. The error names what (e.g. "guest api host") was served where.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, what string) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
