package httpingress

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/node/internal/resources/edgelesshttp"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// ClassType is the resource class this provider creates.
const ClassType = "http-ingress"

// OutputNewRequest is the output each request is sent to.
const OutputNewRequest = "new_request"

// The configuration keys of an http-ingress instance.
const (
	KeyHost         = "host"
	KeyMethod       = "method"
	KeyWorkflowID   = "wf_id"
	KeyAsync        = "async"
	KeyEncodeBase64 = "encode_base64"
)

// Defaults of Config. Upstream's encoding writes each body byte as up to
// four characters ("255,"), and upstream peers take events of at most
// 4 MiB: a 1 MiB body fits.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRequestTimeout = 30 * time.Second
)

// Config configures the provider's listener.
type Config struct {
	// Listener is where requests are accepted (from http_ingress_url).
	Listener net.Listener
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// RequestTimeout bounds the wait for the function's reply (default
	// DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Logger receives the provider's logs.
	Logger *slog.Logger
}

// Provider is the node's http-ingress: its listener and its instances.
type Provider struct {
	cfg  Config
	log  *slog.Logger
	srv  *http.Server
	done chan struct{} // closed when Serve has returned

	mu     sync.RWMutex
	routes map[string]*route // by instance function id
}

var _ resources.Provider = (*Provider)(nil)

// route is one instance's claim on requests.
type route struct {
	host    string          // "" matches any Host
	methods map[string]bool // empty allows every method
	wfID    string          // "" when wf_id is not required
	async   bool
	base64  bool
	mailbox *dataplane.Mailbox
	patched bool // new_request is mapped
}

// New starts serving on cfg.Listener; Close stops it.
func New(cfg Config) (*Provider, error) {
	if cfg.Listener == nil {
		return nil, errors.New("http-ingress: no listener")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Provider{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "http-ingress"),
		done:   make(chan struct{}),
		routes: map[string]*route{},
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      cfg.RequestTimeout + time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(cfg.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("http-ingress listener stopped", "error", err)
		}
	}()
	p.log.Info("http-ingress listening", "addr", cfg.Listener.Addr().String())
	return p, nil
}

// Addr returns the listener's address.
func (p *Provider) Addr() net.Addr { return p.cfg.Listener.Addr() }

// Close stops the listener, waiting for requests in progress until ctx is
// done, then closing what remains.
func (p *Provider) Close(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, p.srv.Close())
	}
	<-p.done
	return err
}

// ClassType returns "http-ingress".
func (p *Provider) ClassType() string { return ClassType }

// Outputs returns new_request.
func (p *Provider) Outputs() []string { return []string{OutputNewRequest} }

// Start records the instance's claim; it serves requests once Patch maps
// new_request.
func (p *Provider) Start(_ context.Context, in *resources.Instance) (dataplane.Receiver, error) {
	cfg := in.Spec.Configuration
	r := &route{host: cfg[KeyHost], methods: map[string]bool{}, mailbox: in.Mailbox}
	for m := range strings.SplitSeq(cfg[KeyMethod], ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if _, err := edgelesshttp.Method(m); err != nil {
			return nil, fmt.Errorf("invalid method '%s' specified in http-ingress: %w: %w", m, err, resources.ErrConfiguration)
		}
		r.methods[m] = true
	}
	if isTrue(cfg[KeyWorkflowID]) {
		if in.Spec.WorkflowID == "" {
			return nil, fmt.Errorf("wf_id is true but the request names no workflow: %w", resources.ErrConfiguration)
		}
		r.wfID = in.Spec.WorkflowID
	}
	r.async = isTrue(cfg[KeyAsync])
	r.base64 = isTrue(cfg[KeyEncodeBase64])
	p.mu.Lock()
	p.routes[in.ID.FunctionID] = r
	p.mu.Unlock()
	return refuseEvents{}, nil
}

func isTrue(v string) bool { return strings.EqualFold(v, "true") }

// Patched enables the instance once new_request is mapped.
func (p *Provider) Patched(in *resources.Instance, outputs map[string]contract.InstanceID) error {
	_, ok := outputs[OutputNewRequest]
	p.mu.Lock()
	if r := p.routes[in.ID.FunctionID]; r != nil {
		r.patched = ok
	}
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("missing channel %s from http-ingress patch request", OutputNewRequest)
	}
	return nil
}

// Stop withdraws the instance's claim.
func (p *Provider) Stop(in *resources.Instance) {
	p.mu.Lock()
	delete(p.routes, in.ID.FunctionID)
	p.mu.Unlock()
}

// refuseEvents answers events sent to an ingress instance, which takes none.
type refuseEvents struct{}

func (refuseEvents) Cast(context.Context, contract.InstanceID, []byte) error {
	return errors.New("http-ingress takes no events")
}

func (refuseEvents) Call(context.Context, contract.InstanceID, []byte) (contract.Reply, error) {
	return contract.Reply{}, errors.New("http-ingress takes no events")
}

func (p *Provider) match(host, method, wfID string) *route {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var ms []*route
	for _, r := range p.routes {
		if r.patched && (r.host == "" || r.host == host) && (len(r.methods) == 0 || r.methods[method]) && (r.wfID == "" || r.wfID == wfID) {
			ms = append(ms, r)
		}
	}
	if len(ms) == 0 {
		return nil
	}
	return ms[rand.IntN(len(ms))]
}

// ServeHTTP hands a request to the instance that claims it.
func (p *Provider) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	wireMethod, err := edgelesshttp.Method(req.Method)
	if err != nil {
		http.Error(w, err.Error(), http.StatusMethodNotAllowed)
		return
	}
	r := p.match(req.Host, req.Method, req.URL.Query().Get("wf_id"))
	if r == nil {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, p.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", p.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), p.cfg.RequestTimeout)
	defer cancel()
	if r.async {
		p.cast(ctx, w, r, body)
		return
	}
	headers := edgelesshttp.Headers(req.Header)
	headers["host"] = req.Host
	msg := edgelesshttp.EncodeRequest(edgelesshttp.Request{
		Method:   wireMethod,
		Protocol: edgelesshttp.ProtocolUnknown,
		Host:     req.Host,
		Path:     req.RequestURI,
		Body:     edgelesshttp.Bytes(body),
		Headers:  headers,
	})
	reply, err := r.mailbox.Call(ctx, OutputNewRequest, msg)
	if err != nil {
		p.fail(w, err)
		return
	}
	switch reply.Type {
	case edgelessapi.CallRetType_CALL_RET_REPLY:
	case edgelessapi.CallRetType_CALL_RET_NO_REPLY:
		http.Error(w, "the function answered without a reply", http.StatusBadGateway)
		return
	default:
		http.Error(w, "the function failed (ERR)", http.StatusBadGateway)
		return
	}
	resp, err := edgelesshttp.DecodeResponse(reply.Msg)
	if err != nil {
		http.Error(w, "the function's reply: "+err.Error(), http.StatusBadGateway)
		return
	}
	h := w.Header()
	for k, v := range resp.Headers {
		if validHeader(k, v) && !skipHeader(k) {
			h.Add(k, v)
		}
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

func (p *Provider) cast(ctx context.Context, w http.ResponseWriter, r *route, body []byte) {
	msg := body
	if r.base64 {
		msg = []byte(base64.StdEncoding.EncodeToString(body))
	} else if !utf8.Valid(body) {
		http.Error(w, "request body is not UTF-8 (set encode_base64 on the http-ingress to send binary bodies)", http.StatusBadRequest)
		return
	}
	if err := r.mailbox.Cast(ctx, OutputNewRequest, msg); err != nil {
		p.fail(w, err)
		return
	}
	_, _ = io.WriteString(w, "OK")
}

// fail answers a failed cast or call: 504 for a deadline, 503 when the
// target is gone or busy, 502 otherwise.
func (p *Provider) fail(w http.ResponseWriter, err error) {
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return // the client went away
	case errors.Is(err, contract.ErrUnknownDestination), errors.Is(err, contract.ErrOverloaded), errors.Is(err, contract.ErrInstanceStopped):
		status = http.StatusServiceUnavailable
	}
	p.log.Warn("http-ingress request failed", "status", status, "error", err)
	http.Error(w, http.StatusText(status)+": "+err.Error(), status)
}

// skipHeader names the headers the server computes itself.
func skipHeader(k string) bool {
	switch strings.ToLower(k) {
	case "content-length", "transfer-encoding", "connection":
		return true
	}
	return false
}

// validHeader reports whether a function's header can be sent (RFC 9110
// token name, value without control characters); upstream drops the others
// too.
func validHeader(k, v string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Spec describes the class (upstream's HttpIngressResourceSpec).
var Spec = resources.ClassSpec{
	ClassType:   ClassType,
	Description: "Ingest HTTP commands from external web clients",
	Version:     "2.1",
	Outputs:     []string{OutputNewRequest},
	Configurations: map[string]string{
		KeyHost:         "If not empty, requires the external client to specify the given hostname in the HTTP header. Default: hostname not required",
		KeyMethod:       "Comma-separated list of HTTP methods allowed. Default: accept any method",
		KeyWorkflowID:   "Boolean specifying if the external client is required to specify the workflow ID in the URL query (?wf_id=<ID>). One of: true, false. Default: false.",
		KeyAsync:        "Boolean specifying if the target on the output channel should be invoked via an asynchronous cast. One of: true, false. Default: use a synchronous call.",
		KeyEncodeBase64: "Encode the input with base64 (only with async=true).",
	},
}
