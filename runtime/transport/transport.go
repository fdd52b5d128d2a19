package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
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

// Config is what servers and clients have in common. The zero value is
// plain-text HTTP/2 (h2c).
type Config struct {
	// TLS, when set, makes a server serve TLS (HTTP/2 and HTTP/1.1 by ALPN)
	// and a client dial TLS (HTTP/2 only, as tonic and grpcio servers
	// expect). A server's config must hold its certificate; a client's
	// names the server name to check (ServerName) and its roots (RootCAs).
	// Build both from a tls_config.toml with LoadTLS or FindTLS. The same
	// *tls.Config serves any HTTP/2 stack (net/http here, grpc-go's
	// credentials.NewTLS), so a path that switches stacks keeps it.
	TLS *tls.Config

	// HandshakeFailed, when set on a server's config, is called with the
	// client's address and the error of each TLS handshake that fails on a
	// grpc-go server built from it (NewGRPCServer): a client certificate
	// missing or signed by another CA, no ALPN, a plain-text client, a
	// handshake not done within ReadHeaderTimeout. grpc-go itself only logs
	// them at its info level, which the node does not show. A connection
	// closed before it sent a byte (a port probe) is no handshake and is
	// not reported. It must not block: it runs on the connection's
	// goroutine.
	HandshakeFailed func(remote net.Addr, err error)
}

func (c Config) check(server bool) error {
	if c.TLS == nil {
		return nil
	}
	if server && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil {
		return errors.New("transport: a TLS server config without a certificate")
	}
	return nil
}

// Schemes returns the URL schemes a client with this config accepts. With
// TLS both: the config decides, as upstream's does, and an http:// URL is
// dialled with TLS too (so a domain can turn TLS on without rewriting every
// announced URL).
func (c Config) Schemes() []string {
	if c.TLS != nil {
		return []string{"https", "http"}
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
		return fmt.Errorf("URL %q: https needs a TLS client config (%s with [client] client_ca_path), want %s", raw, TLSConfigFile, want)
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
