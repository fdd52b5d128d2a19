package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
)

// controller talks to a controller: WorkflowInstance over gRPC (h2c, as
// upstream's tonic server expects) and our orchestrator's JSON admin API.
type controller struct {
	url   string
	wf    edgelessapiconnect.WorkflowInstanceClient
	admin adminapi.Controller
}

// security is how the CLI proves who it is to the controller and nodes:
// the client half of a tls_config.toml (nil: plain text) and the admin
// APIs' bearer token ("" for none).
type security struct {
	tls   *transport.TLS
	token string
}

// loadSecurity reads the TLS file at path, or tls_config.toml in the
// working directory (as upstream's CLI), or none (plain text).
func loadSecurity(path, token string) (security, error) {
	tc, err := transport.FindTLS(path)
	if errors.Is(err, transport.ErrNoTLSFile) {
		return security{token: token}, nil
	}
	if err != nil {
		return security{}, fmt.Errorf("--tls-config: %w", err)
	}
	return security{tls: tc, token: token}, nil
}

func newController(rawURL string, sec security) (*controller, error) {
	tc := sec.tls.ClientConfig()
	if err := tc.CheckURL(rawURL); err != nil {
		return nil, fmt.Errorf("controller %w", err)
	}
	grpcHTTP, _, _ := transport.ClientConfig{Config: tc}.NewClient() // only server configs are refused
	adminHTTP := transport.NewHTTP1Client()
	if tc.TLS != nil {
		adminHTTP = grpcHTTP
	}
	base := strings.TrimSuffix(rawURL, "/")
	return &controller{
		url:   base,
		wf:    edgelessapiconnect.NewWorkflowInstanceClient(grpcHTTP, base, transport.ClientOptions(transport.ControlMaxBytes)...),
		admin: adminapi.Controller{BaseURL: base, HTTP: adminapi.WithToken(adminHTTP, sec.token)},
	}, nil
}

// startStream starts a workflow through the admin API and calls progress
// for each step. It returns adminapi.ErrNoAdmin (before anything started)
// when the controller does not serve the admin API.
func (c *controller) startStream(ctx context.Context, req *edgelessapi.SpawnWorkflowRequest, progress func(adminapi.Progress)) (string, error) {
	body, err := protojson.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("encode workflow: %w", err)
	}
	return c.admin.Start(ctx, body, progress)
}

// start starts a workflow with WorkflowInstance.Start, as upstream's CLI.
func (c *controller) start(ctx context.Context, req *edgelessapi.SpawnWorkflowRequest) (*edgelessapi.WorkflowInstanceStatus, error) {
	resp, err := c.wf.Start(ctx, req)
	if err != nil {
		return nil, c.rpcError("WorkflowInstance.Start", err)
	}
	if re := resp.GetResponseError(); re != nil {
		return nil, &adminapi.StartError{Summary: re.GetSummary(), Detail: re.GetDetail()}
	}
	if resp.GetWorkflowStatus() == nil {
		return nil, errors.New("WorkflowInstance.Start: ill-formed answer: neither a status nor an error")
	}
	return resp.GetWorkflowStatus(), nil
}

// rpcError wraps a WorkflowInstance error with what was being done and, when
// nothing answered, a hint.
func (c *controller) rpcError(op string, err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return fmt.Errorf("%s: %w (is a controller running at %s? start one with edgeless up, or set --controller-url)", op, err, c.url)
	case connect.CodeUnimplemented:
		// What answers is an HTTP/2 server without WorkflowInstance, e.g. a
		// node's agent URL.
		return fmt.Errorf("%s: %s is not a controller: it does not serve WorkflowInstance (a node's agent URL, perhaps?); "+
			"point --controller-url at edgeless-inabox's controller_url (default %s) or upstream's ε-CON (%w)", op, c.url, DefaultControllerURL, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// nodeAdmin returns the admin client of the node at agentURL.
func (c *controller) nodeAdmin(agentURL string) adminapi.Node {
	return adminapi.Node{BaseURL: agentURL, HTTP: c.admin.HTTP}
}

// dial is the preamble of a command that talks to the controller: a client
// of --controller-url and a ctx bounded by --timeout, which the caller must
// cancel once dial succeeded.
func (o *options) dial(cmd *cobra.Command) (context.Context, *controller, context.CancelFunc, error) {
	c, err := o.controller()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	return ctx, c, cancel, nil
}

// controller returns a client of --controller-url with the CLI's TLS file
// and admin token.
func (o *options) controller() (*controller, error) {
	sec, err := loadSecurity(o.tlsConfig, cmp.Or(o.adminToken, os.Getenv("EDGELESS_ADMIN_TOKEN")))
	if err != nil {
		return nil, err
	}
	return newController(o.controllerURL, sec)
}
