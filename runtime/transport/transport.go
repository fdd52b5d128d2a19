package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"connectrpc.com/connect"
)

// Message size limits, applied after decompression on every hop.
const (
	// ControlMaxBytes bounds control RPCs (agent, registration, workflow,
	// orchestrator→node): upstream gRPC's default receive limit.
	ControlMaxBytes = 4 << 20
	// DefaultPayloadMaxBytes is the default bound of messages that carry
	// event payloads (data plane, guest API host and function), set by
	// `[dataplane] max_payload_bytes` in the node's config.
	DefaultPayloadMaxBytes = 16 << 20
	// CompressMinBytes is the smallest message that is gzip-compressed when
	// the peer accepts gzip: compressing a few bytes (mostly Empty) costs
	// more than it saves.
	CompressMinBytes = 1024
)

// Timeouts and HTTP/2 settings shared by every server and client.
const (
	// ReadHeaderTimeout bounds the reading of a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a server connection with no stream for this long.
	IdleTimeout = 5 * time.Minute
	// MaxConcurrentStreams is the streams one client may have open on one
	// connection: nested calls hold a stream each while they wait.
	MaxConcurrentStreams = 1000
	// DialTimeout bounds the opening of a client connection.
	DialTimeout = 5 * time.Second
	// KeepAlive is the TCP keep-alive period of client connections.
	KeepAlive = 30 * time.Second
	// ClientIdleTimeout closes an idle client connection.
	ClientIdleTimeout = 90 * time.Second
	// PingInterval and PingTimeout make a client notice a peer that vanished
	// without closing its connection.
	PingInterval = 15 * time.Second
	// PingTimeout is how long a ping may wait for its answer.
	PingTimeout = 5 * time.Second
)

// ErrTLSUnsupported is returned when a Config asks for TLS, which this
// package does not implement yet.
var ErrTLSUnsupported = errors.New("TLS is not supported yet")

// Config is what servers and clients have in common. The zero value is
// plain-text HTTP/2.
type Config struct {
	// TLS, when set, will make servers serve and clients dial TLS. It is the
	// one place TLS will be added; today a non-nil value is refused with
	// ErrTLSUnsupported.
	TLS *tls.Config
}

func (c Config) check() error {
	if c.TLS != nil {
		return ErrTLSUnsupported
	}
	return nil
}

// Schemes returns the URL schemes a client with this config can speak.
func (c Config) Schemes() []string {
	if c.TLS != nil {
		return []string{"https"}
	}
	return []string{"http"}
}

// CheckURL reports whether raw is an absolute URL with a host that a client
// with this config can speak; a scheme it cannot speak (https without TLS)
// is an error naming it.
func (c Config) CheckURL(raw string) error {
	want := c.Schemes()[0] + "://<host>:<port>"
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("URL %q: want %s", raw, want)
	}
	if slices.Contains(c.Schemes(), u.Scheme) {
		return nil
	}
	if u.Scheme == "https" {
		return fmt.Errorf("URL %q: https is not supported (plain-text HTTP/2 only), want %s", raw, want)
	}
	return fmt.Errorf("URL %q: want %s", raw, want)
}

// HandlerOptions returns the connect options of a service handler that reads
// and sends messages of up to maxBytes (ControlMaxBytes or a payload limit),
// followed by extra.
func HandlerOptions(maxBytes int, extra ...connect.HandlerOption) []connect.HandlerOption {
	dec, comp := gzipCodec(maxBytes)
	return append([]connect.HandlerOption{
		connect.WithCompression("gzip", dec, comp),
		connect.WithReadMaxBytes(maxBytes),
		connect.WithSendMaxBytes(maxBytes),
		connect.WithCompressMinBytes(CompressMinBytes),
	}, extra...)
}

// ClientOptions returns the connect options of a gRPC client (the protocol
// upstream's peers speak) that reads and sends messages of up to maxBytes.
func ClientOptions(maxBytes int) []connect.ClientOption {
	dec, comp := gzipCodec(maxBytes)
	return []connect.ClientOption{
		connect.WithAcceptCompression("gzip", dec, comp),
		connect.WithGRPC(),
		connect.WithReadMaxBytes(maxBytes),
		connect.WithSendMaxBytes(maxBytes),
		connect.WithCompressMinBytes(CompressMinBytes),
	}
}
