// Package transport builds every HTTP/2 server and client of the node, the
// runtime, the orchestrator and the CLI: gRPC (and gRPC-Web and Connect) over
// plain-text HTTP/2 (h2c), which is what upstream's tonic servers and clients
// speak, or over TLS when a Config carries a *tls.Config.
//
// It is the one place for the transport's knobs: read and send limits
// (applied by connect after decompression, so a small gzip body that unpacks
// to gigabytes is refused with RESOURCE_EXHAUSTED before it is held in
// memory), header and idle timeouts, HTTP/2 settings, the compression policy
// (messages under CompressMinBytes are sent uncompressed), the URL schemes a
// client accepts, and TLS: LoadTLS and FindTLS read upstream's
// tls_config.toml into one server and one client *tls.Config, which
// NewServer and NewClient use.
//
// The choice of RPC library stays here too: connect-go behind
// HandlerOptions and ClientOptions, and grpc-go behind NewGRPCConn and
// NewGRPCServer (same limits, timeouts, keep-alives and TLS config). The
// data plane's peer client (NewGRPCConn) and the node's FunctionInvocation
// server (NewGRPCServer) use grpc-go: the hot paths where the measurements
// favour it (see the README's benchmark section).
package transport
