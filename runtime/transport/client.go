package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ClientConfig configures NewClient.
type ClientConfig struct {
	Config
	// DialTimeout bounds the opening of a connection, TLS handshake
	// included (default DialTimeout).
	DialTimeout time.Duration
}

// NewClient returns an HTTP client for gRPC peers and its transport, so
// that the owner can close its idle connections. Without TLS it speaks h2c
// only (as tonic and grpcio servers expect); with c.TLS it speaks HTTP/2
// over TLS only, presenting the config's certificate and checking the
// server's against its roots and server name, and dials http:// URLs with
// TLS too (the config decides, as upstream's does). Connections are reused,
// so the handshake is paid once per peer. Pings notice a peer that vanished
// without closing the connection.
func (c ClientConfig) NewClient() (*http.Client, *http.Transport, error) {
	if err := c.check(false); err != nil {
		return nil, nil, err
	}
	dial := c.DialTimeout
	if dial <= 0 {
		dial = DialTimeout
	}
	var p http.Protocols
	tr := &http.Transport{
		Protocols:           &p,
		DialContext:         (&net.Dialer{Timeout: dial, KeepAlive: KeepAlive}).DialContext,
		IdleConnTimeout:     ClientIdleTimeout,
		TLSHandshakeTimeout: dial,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: PingInterval, PingTimeout: PingTimeout},
	}
	if c.TLS == nil {
		p.SetUnencryptedHTTP2(true)
		return &http.Client{Transport: h2cTransport{tr, dial}}, tr, nil
	}
	p.SetHTTP2(true)
	tr.TLSClientConfig = c.TLS.Clone()
	return &http.Client{Transport: upgradeHTTP{tr, dial}}, tr, nil
}

// NewClient returns a plain-text h2c client with the default dial timeout
// (see ClientConfig.NewClient).
func NewClient() (*http.Client, *http.Transport) {
	hc, tr, _ := ClientConfig{}.NewClient() // a zero Config cannot fail
	return hc, tr
}

// upgradeHTTP sends http:// requests as https://: with a TLS config every
// peer is dialled with TLS, whatever scheme its URL was announced with.
// When a request fails without an answer it asks the server why: under TLS
// 1.3 a server refuses a client certificate only after the client's side
// of the handshake is done, so the request itself often fails with a bare
// "could not be established".
type upgradeHTTP struct {
	rt   *http.Transport
	dial time.Duration
}

func (u upgradeHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		r := req.Clone(req.Context())
		r.URL.Scheme = "https"
		req = r
	}
	res, err := u.rt.RoundTrip(req)
	if err != nil && req.Context().Err() == nil && !dialFailed(err) {
		if why := refusal(req.Context(), req.URL.Host, u.rt.TLSClientConfig, u.dial); why != nil {
			return nil, fmt.Errorf("%s refused this client at the TLS handshake: %w (%v)", req.URL.Host, why, err)
		}
	}
	return res, err
}

// refusal returns the TLS alert with which addr refuses a handshake with
// cfg (its certificate unknown, expired or missing), or nil when it does
// not refuse within timeout. It sends no data.
func refusal(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if strings.Contains(err.Error(), "remote error: tls:") {
			return err
		}
		return nil
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(dl)
	}
	_, err = conn.Read(make([]byte, 1))
	if err != nil && strings.Contains(err.Error(), "remote error: tls:") {
		return err
	}
	return nil
}

// CloseIdleConnections closes the idle connections of the transport.
func (u upgradeHTTP) CloseIdleConnections() { u.rt.CloseIdleConnections() }

// ErrPeerSpeaksTLS is returned (wrapped) by a plain-text client whose
// request failed on a connection to a server that speaks TLS.
var ErrPeerSpeaksTLS = errors.New("the server speaks TLS: give this client a " + TLSConfigFile + " with [client] client_ca_path and the domain's CA")

// h2cTransport is a plain-text transport that, when a request fails
// without an answer, checks whether the server speaks TLS, so that the
// error says so instead of "unexpected EOF" or "broken pipe" (a TLS server
// closes a plain-text connection without a word).
type h2cTransport struct {
	rt   *http.Transport
	dial time.Duration
}

func (t h2cTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.rt.RoundTrip(req)
	if err != nil && req.Context().Err() == nil && !dialFailed(err) && speaksTLS(req.Context(), req.URL.Host, t.dial) {
		return nil, fmt.Errorf("%s: %w (%v)", req.URL.Host, ErrPeerSpeaksTLS, err)
	}
	return res, err
}

// CloseIdleConnections closes the idle connections of the transport.
func (t h2cTransport) CloseIdleConnections() { t.rt.CloseIdleConnections() }

// speaksTLS reports whether a TLS handshake with addr gets as far as the
// server's answer. It only probes: nothing is sent over the connection and
// the certificate is not trusted for anything, so it is not verified.
func speaksTLS(ctx context.Context, addr string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} // a probe: no data is sent
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		return true
	}
	return strings.Contains(err.Error(), "remote error: tls:")
}

// dialFailed reports whether err is a failure to open the TCP connection:
// then no server answered, and there is nothing to ask it.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// httpsAnswer is how a Go TLS server answers a plain HTTP/1 request.
const httpsAnswer = "Client sent an HTTP request to an HTTPS server."

// NewHTTP1Client returns a plain HTTP/1.1 client (for JSON APIs) whose
// requests to a TLS port fail with an error wrapping ErrPeerSpeaksTLS
// instead of returning the server's 400 answer.
func NewHTTP1Client() *http.Client {
	return &http.Client{Transport: http1Transport{http.DefaultTransport}}
}

type http1Transport struct{ rt http.RoundTripper }

func (t http1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.rt.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusBadRequest || res.Request == nil || res.Request.URL.Scheme != "http" {
		return res, err
	}
	orig := res.Body
	head, _ := io.ReadAll(io.LimitReader(orig, int64(len(httpsAnswer))+64))
	if strings.Contains(string(head), httpsAnswer) {
		orig.Close()
		return nil, fmt.Errorf("%s: %w", req.URL.Host, ErrPeerSpeaksTLS)
	}
	// Any other 400 answer goes back whole: what was read, then the rest.
	res.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), orig), orig}
	return res, nil
}

// CloseIdleConnections closes the idle connections of the transport.
func (t http1Transport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
