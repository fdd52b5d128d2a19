package transport

import (
	"net"
	"net/http"
	"time"
)

// ClientConfig configures NewClient.
type ClientConfig struct {
	Config
	// DialTimeout bounds the opening of a connection (default DialTimeout).
	DialTimeout time.Duration
}

// NewClient returns an HTTP client for gRPC peers (h2c only, as tonic and
// grpcio servers expect) and its transport, so that the owner can close its
// idle connections. Pings notice a peer that vanished without closing the
// connection.
func (c ClientConfig) NewClient() (*http.Client, *http.Transport, error) {
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	dial := c.DialTimeout
	if dial <= 0 {
		dial = DialTimeout
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols:       &p,
		DialContext:     (&net.Dialer{Timeout: dial, KeepAlive: KeepAlive}).DialContext,
		IdleConnTimeout: ClientIdleTimeout,
		HTTP2:           &http.HTTP2Config{SendPingTimeout: PingInterval, PingTimeout: PingTimeout},
	}
	return &http.Client{Transport: tr}, tr, nil
}

// NewClient returns a plain-text h2c client with the default dial timeout
// (see ClientConfig.NewClient).
func NewClient() (*http.Client, *http.Transport) {
	hc, tr, _ := ClientConfig{}.NewClient() // a zero Config cannot fail
	return hc, tr
}
