// Package httpegress is the http-egress resource (upstream's class type
// "http-egress", no outputs, no configuration): a function calls it with
// upstream's EdgelessHTTPRequest JSON, the node performs the request
// (protocol HTTPS: https, otherwise http; URL = scheme://host + path) and
// the call is answered with upstream's EdgelessHTTPResponse JSON (status,
// headers in lower case, body). A request that cannot be parsed or
// performed is answered ERR, as upstream. Unlike upstream, which ignores
// casts, a cast performs the request and drops the response.
//
// The node reaches whatever it can reach: any function of any workflow on
// the node can make the node send requests to its own network, including
// addresses on the host and the local network that outside clients cannot
// reach. Config.AllowedHosts restricts the hosts (redirects included);
// every request has a deadline (Config.Timeout, and the caller's) and a
// response size limit (Config.MaxResponseBytes), which upstream lacks.
package httpegress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/node/internal/resources/edgelesshttp"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// ClassType is the resource class this provider creates.
const ClassType = "http-egress"

// Defaults of Config. The reply encodes each body byte as up to four
// characters, and upstream peers take events of at most 4 MiB: a 1 MiB
// body fits.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	maxRedirects            = 10
)

// ErrHostNotAllowed is returned for a request to a host outside
// Config.AllowedHosts.
var ErrHostNotAllowed = errors.New("host not in the node's http-egress allow-list")

// Config configures the provider.
type Config struct {
	// Timeout bounds one request, response body included (default
	// DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes bounds a response body (default
	// DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// AllowedHosts, if not empty, are the only hosts requests may go to:
	// an entry "name" allows that host on any port, "name:port" only that
	// port. Names are compared without regard to case.
	AllowedHosts []string
	// Transport performs the requests (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	// Logger receives the provider's logs.
	Logger *slog.Logger
}

// Provider creates http-egress instances; they share one client.
type Provider struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
}

var _ resources.Provider = (*Provider)(nil)

// New returns a provider for cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	for _, h := range cfg.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/@ ") {
			return nil, fmt.Errorf("http-egress: allowed host %q: want a host name or address, optionally with :port", h)
		}
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Provider{cfg: cfg, log: cfg.Logger.With("component", "http-egress")}
	p.client = &http.Client{
		Transport: cfg.Transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return p.allowed(req.URL)
		},
	}
	return p, nil
}

// ClassType returns "http-egress".
func (p *Provider) ClassType() string { return ClassType }

// Outputs returns none.
func (p *Provider) Outputs() []string { return []string{} }

// Start accepts any configuration (upstream's http-egress has none).
func (p *Provider) Start(context.Context, *resources.Instance) (dataplane.Receiver, error) {
	return receiver{p}, nil
}

// Patched accepts any mapping: an http-egress has no outputs.
func (p *Provider) Patched(*resources.Instance, map[string]contract.InstanceID) error { return nil }

// Stop has nothing to release: requests in progress end with the
// instance's deliveries, which the data plane cancels.
func (p *Provider) Stop(*resources.Instance) {}

// allowed checks u's host against the allow-list.
func (p *Provider) allowed(u *url.URL) error {
	if len(p.cfg.AllowedHosts) == 0 {
		return nil
	}
	name, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, a := range p.cfg.AllowedHosts {
		an, ap, err := net.SplitHostPort(a)
		if err != nil {
			an, ap = strings.Trim(a, "[]"), ""
		}
		if strings.EqualFold(an, name) && (ap == "" || ap == port) {
			return nil
		}
	}
	return fmt.Errorf("%s: %w", u.Host, ErrHostNotAllowed)
}

// Do performs req and returns upstream's response encoding.
func (p *Provider) Do(ctx context.Context, req edgelesshttp.Request) (edgelesshttp.Response, error) {
	scheme := "http"
	if req.Protocol == edgelesshttp.ProtocolHTTPS {
		scheme = "https"
	}
	u, err := url.Parse(scheme + "://" + req.Host + req.Path)
	if err != nil || u.Host != req.Host || u.User != nil {
		return edgelesshttp.Response{}, fmt.Errorf("http-egress: host %q and path %q do not form a URL", req.Host, req.Path)
	}
	if err := p.allowed(u); err != nil {
		return edgelesshttp.Response{}, fmt.Errorf("http-egress: %w", err)
	}
	method, _ := edgelesshttp.HTTPMethod(req.Method) // checked by DecodeRequest
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return edgelesshttp.Response{}, fmt.Errorf("http-egress: %w", err)
	}
	for k, v := range req.Headers {
		switch strings.ToLower(k) {
		case "host":
			hr.Host = v
		case "content-length", "transfer-encoding", "connection":
		default:
			hr.Header.Set(k, v)
		}
	}
	resp, err := p.client.Do(hr)
	if err != nil {
		return edgelesshttp.Response{}, fmt.Errorf("http-egress: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxResponseBytes+1))
	if err != nil {
		return edgelesshttp.Response{}, fmt.Errorf("http-egress: %s %s: read response: %w", method, u.Redacted(), err)
	}
	if int64(len(data)) > p.cfg.MaxResponseBytes {
		return edgelesshttp.Response{}, fmt.Errorf("http-egress: %s %s: response body larger than %d bytes", method, u.Redacted(), p.cfg.MaxResponseBytes)
	}
	return edgelesshttp.Response{Status: resp.StatusCode, Headers: edgelesshttp.Headers(resp.Header), Body: edgelesshttp.Bytes(slices.Clip(data))}, nil
}

// receiver is one instance: it performs the requests it is sent.
type receiver struct{ p *Provider }

func (r receiver) perform(ctx context.Context, msg []byte) ([]byte, error) {
	req, err := edgelesshttp.DecodeRequest(msg)
	if err != nil {
		return nil, fmt.Errorf("http-egress: %w", err)
	}
	resp, err := r.p.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	return edgelesshttp.EncodeResponse(resp), nil
}

// Cast performs the request and drops the response.
func (r receiver) Cast(ctx context.Context, src contract.InstanceID, msg []byte) error {
	if _, err := r.perform(ctx, msg); err != nil {
		r.p.log.Warn("http-egress cast failed", "source", src.FunctionID, "error", err)
		return err
	}
	return nil
}

// Call performs the request and answers the response; a failure is ERR.
func (r receiver) Call(ctx context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error) {
	out, err := r.perform(ctx, msg)
	if err != nil {
		r.p.log.Warn("http-egress call failed", "source", src.FunctionID, "error", err)
		return contract.Reply{}, err
	}
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: out}, nil
}

// Spec describes the class (upstream's HttpEgressResourceSpec).
var Spec = resources.ClassSpec{
	ClassType:      ClassType,
	Description:    "Execute HTTP commands on external web servers",
	Version:        "1.1",
	Outputs:        []string{},
	Configurations: map[string]string{},
}
