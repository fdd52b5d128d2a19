package guest

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the port the GuestAPIFunction server listens on by
// default; the EDGELESS templates and images use it by convention.
const DefaultPort = 7101

// Defaults of Options.
const (
	DefaultMaxConcurrency = 64
	DefaultHostTimeout    = 30 * time.Second
	DefaultShutdownGrace  = 2 * time.Second
	// DefaultMaxPayloadBytes is the node's default `[dataplane]
	// max_payload_bytes` (16 MiB).
	DefaultMaxPayloadBytes = 16 << 20
)

// Options configure a Server. The zero value is usable: every zero field
// takes its default.
type Options struct {
	// Addr is the listen address of ListenAndServe, default ":7101".
	Addr string
	// Logger receives the SDK's logs, default slog.Default().
	Logger *slog.Logger
	// MaxConcurrency bounds the Cast and Call handlers running at once,
	// default 64. Further events wait for a slot until their deadline.
	MaxConcurrency int
	// HostTimeout is the deadline of a host call whose context has none,
	// and of the connection attempt in Boot; default 30s.
	HostTimeout time.Duration
	// ShutdownGrace bounds how long Stop and a shutdown (SIGTERM) wait for
	// the events in flight before cancelling them; default 2s.
	ShutdownGrace time.Duration
	// MaxPayloadBytes bounds every message the SDK reads or sends, on the
	// GuestAPIFunction server and the GuestAPIHost client (after
	// decompression); larger ones are refused with RESOURCE_EXHAUSTED.
	// Default DefaultMaxPayloadBytes, the node's default: keep both the same.
	MaxPayloadBytes int
	// GuestSockets is the directory of the node's Unix sockets for this
	// container (EnvGuestSockets; empty: none). ListenAndServe then dials
	// the node's function socket before it listens on Addr and serves the
	// node over it as well, and Boot accepts a GuestAPIHost endpoint
	// "unix://" + GuestSockets + "/host.sock".
	GuestSockets string
}

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = ":" + strconv.Itoa(DefaultPort)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	if o.HostTimeout <= 0 {
		o.HostTimeout = DefaultHostTimeout
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	if o.MaxPayloadBytes <= 0 {
		o.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	return o
}

// ParseArgs builds Options and a log level from command-line arguments and
// environment variables (read through getenv, e.g. os.Getenv). Flags win
// over the environment:
//
//	-port N              PORT             listen port (default 7101; 0 picks a free one), all interfaces
//	-endpoint URL                         listen URL as in the Rust template, e.g. http://0.0.0.0:7101/
//	-log-level LEVEL     LOG_LEVEL        debug, info, warn or error (default info)
//	-max-concurrency N   MAX_CONCURRENCY  Cast/Call handlers at once (default 64)
//	-host-timeout D      HOST_TIMEOUT     default deadline of host calls (default 30s)
//	-shutdown-grace D    SHUTDOWN_GRACE   drain time on Stop and SIGTERM (default 2s)
//	-max-payload-bytes N MAX_PAYLOAD_BYTES largest message read or sent (default 16 MiB)
//	                     EDGELESS_GUEST_SOCKETS the node's socket directory (set by the node)
func ParseArgs(args []string, getenv func(string) string) (Options, slog.Level, error) {
	fs := flag.NewFlagSet("function", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.String("port", envOr(getenv, "PORT", strconv.Itoa(DefaultPort)), "listen port")
	endpoint := fs.String("endpoint", "", "listen URL, e.g. http://0.0.0.0:7101/ (overrides -port)")
	fs.StringVar(endpoint, "e", "", "shorthand for -endpoint")
	level := fs.String("log-level", envOr(getenv, "LOG_LEVEL", "info"), "log level")
	maxConc := fs.String("max-concurrency", envOr(getenv, "MAX_CONCURRENCY", strconv.Itoa(DefaultMaxConcurrency)), "concurrent Cast/Call handlers")
	hostTimeout := fs.String("host-timeout", envOr(getenv, "HOST_TIMEOUT", DefaultHostTimeout.String()), "default deadline of host calls")
	grace := fs.String("shutdown-grace", envOr(getenv, "SHUTDOWN_GRACE", DefaultShutdownGrace.String()), "drain time on Stop and SIGTERM")
	maxPayload := fs.String("max-payload-bytes", envOr(getenv, "MAX_PAYLOAD_BYTES", strconv.Itoa(DefaultMaxPayloadBytes)), "largest message read or sent")
	if err := fs.Parse(args); err != nil {
		return Options{}, 0, fmt.Errorf("parse arguments: %w", err)
	}
	if fs.NArg() > 0 {
		return Options{}, 0, fmt.Errorf("parse arguments: unexpected argument %q", fs.Arg(0))
	}

	var o Options
	if *endpoint != "" {
		_, addr, err := parseEndpoint("listen endpoint (-endpoint)", *endpoint)
		if err != nil {
			return Options{}, 0, err
		}
		o.Addr = addr
	} else {
		if _, err := strconv.ParseUint(*port, 10, 16); err != nil {
			return Options{}, 0, fmt.Errorf("port %q (-port or PORT) is not in 0-65535", *port)
		}
		o.Addr = net.JoinHostPort("", *port)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(*level))); err != nil {
		return Options{}, 0, fmt.Errorf("log level %q (-log-level or LOG_LEVEL): want debug, info, warn or error", *level)
	}
	n, err := strconv.Atoi(*maxConc)
	if err != nil || n < 1 {
		return Options{}, 0, fmt.Errorf("max concurrency %q (-max-concurrency or MAX_CONCURRENCY) is not a positive integer", *maxConc)
	}
	o.MaxConcurrency = n
	if o.MaxPayloadBytes, err = strconv.Atoi(*maxPayload); err != nil || o.MaxPayloadBytes < 1 || o.MaxPayloadBytes > math.MaxInt32 {
		return Options{}, 0, fmt.Errorf("max payload bytes %q (-max-payload-bytes or MAX_PAYLOAD_BYTES) is not in 1-%d", *maxPayload, math.MaxInt32)
	}
	if o.HostTimeout, err = parsePositiveDuration(*hostTimeout); err != nil {
		return Options{}, 0, fmt.Errorf("host timeout (-host-timeout or HOST_TIMEOUT): %w", err)
	}
	if o.ShutdownGrace, err = parsePositiveDuration(*grace); err != nil {
		return Options{}, 0, fmt.Errorf("shutdown grace (-shutdown-grace or SHUTDOWN_GRACE): %w", err)
	}
	o.GuestSockets = getenv(EnvGuestSockets)
	return o, lvl, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 500ms or 2s", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not positive", s)
	}
	return d, nil
}
