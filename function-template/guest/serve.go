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
)

// compressMinBytes is the smallest message gzip-compressed for a peer that
// accepts gzip, as on the node (runtime/transport.CompressMinBytes): a few
// bytes cost more to compress than they save.
const compressMinBytes = 1024

// Serve serves the GuestAPIFunction service on ln until ctx is done, then
// shuts down: it stops accepting requests, lets those in flight finish
// within Options.ShutdownGrace (then cancels them), calls Function.Stop if
// the instance is still Initialized, and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle(s.Handler())
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.InfoContext(ctx, "serving GuestAPIFunction", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve GuestAPIFunction on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.opts.ShutdownGrace)
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(graceCtx); err != nil {
		s.log.Warn("requests still in flight after the grace: cancelling them", "error", err)
		s.cancelEvents()
		_ = srv.Close()
	}
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownGrace)
	defer cancelStop()
	s.shutdown(stopCtx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve GuestAPIFunction on %s: %w", ln.Addr(), err)
	}
	s.log.Info("shut down")
	return nil
}

// ListenAndServe serves fn on opts.Addr until ctx is done (see
// Server.Serve).
func ListenAndServe(ctx context.Context, fn Function, opts Options) error {
	opts = opts.withDefaults()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	return NewServer(fn, opts).Serve(ctx, ln)
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
