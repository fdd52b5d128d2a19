package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/orchestrator"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"google.golang.org/protobuf/encoding/protojson"
)

// controller talks to a controller: WorkflowInstance over gRPC (h2c, as
// upstream's tonic server expects) and our orchestrator's JSON admin API.
type controller struct {
	url   string
	wf    edgelessapiconnect.WorkflowInstanceClient
	admin *http.Client
}

func newController(rawURL string) (*controller, error) {
	var tc transport.Config // plain-text HTTP/2; TLS will be set here
	if err := tc.CheckURL(rawURL); err != nil {
		return nil, fmt.Errorf("controller %w", err)
	}
	grpcHTTP, _ := transport.NewClient()
	base := strings.TrimSuffix(rawURL, "/")
	return &controller{
		url:   base,
		wf:    edgelessapiconnect.NewWorkflowInstanceClient(grpcHTTP, base, transport.ClientOptions(transport.ControlMaxBytes)...),
		admin: &http.Client{},
	}, nil
}

// errNoAdmin: the controller does not serve our admin API (e.g. it is
// upstream's ε-CON).
var errNoAdmin = errors.New("the controller has no admin API (is it upstream's controller?)")

// getJSON GETs an admin path into out.
func (c *controller) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.admin.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", c.url+path, err)
	}
	defer resp.Body.Close()
	return decodeAdmin(resp, out)
}

func decodeAdmin(resp *http.Response, out any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", resp.Request.Method, resp.Request.URL, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") &&
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		return fmt.Errorf("%s %s: %w", resp.Request.Method, resp.Request.URL, errNoAdmin)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: %s", resp.Request.Method, resp.Request.URL, resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", resp.Request.Method, resp.Request.URL, err)
	}
	return nil
}

// workflowInfo returns our orchestrator's view of a workflow.
func (c *controller) workflowInfo(ctx context.Context, id string) (*orchestrator.WorkflowInfo, error) {
	var wi orchestrator.WorkflowInfo
	if err := c.getJSON(ctx, "/admin/v1/workflows/"+url.PathEscape(id), &wi); err != nil {
		return nil, err
	}
	return &wi, nil
}

// function finds a function of a workflow by name.
func (c *controller) function(ctx context.Context, workflowID, name string) (*orchestrator.FunctionInfo, error) {
	wi, err := c.workflowInfo(ctx, workflowID)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range wi.Functions {
		if wi.Functions[i].Name == name {
			return &wi.Functions[i], nil
		}
		names = append(names, wi.Functions[i].Name)
	}
	return nil, fmt.Errorf("workflow %s has no function %q (it has: %s)", workflowID, name, strings.Join(names, ", "))
}

// startStream starts a workflow through the admin API and calls progress
// for each step. It returns errNoAdmin (before anything started) when the
// controller does not serve the admin API.
func (c *controller) startStream(ctx context.Context, req *edgelessapi.SpawnWorkflowRequest, progress func(orchestrator.Progress)) (string, error) {
	body, err := protojson.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("encode workflow: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/admin/v1/workflows", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.admin.Do(hreq)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoAdmin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		var dummy any
		if err := decodeAdmin(resp, &dummy); err != nil {
			return "", err
		}
		return "", errNoAdmin
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var p orchestrator.Progress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return "", fmt.Errorf("start progress: bad line %q: %w", sc.Text(), err)
		}
		progress(p)
		switch p.Type {
		case orchestrator.ProgressDone:
			return p.WorkflowID, nil
		case orchestrator.ProgressError:
			return "", &startFailure{summary: p.Error, detail: p.Detail}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("start progress: %w", err)
	}
	return "", errors.New("start progress: the controller closed the stream before the workflow started or failed")
}

// startFailure is a workflow start refused by the controller.
type startFailure struct {
	summary, detail string
}

func (e *startFailure) Error() string {
	if e.detail == "" {
		return "workflow not started: " + e.summary
	}
	return "workflow not started: " + e.detail
}

// start starts a workflow with WorkflowInstance.Start, as upstream's CLI.
func (c *controller) start(ctx context.Context, req *edgelessapi.SpawnWorkflowRequest) (*edgelessapi.WorkflowInstanceStatus, error) {
	resp, err := c.wf.Start(ctx, req)
	if err != nil {
		return nil, c.rpcError("WorkflowInstance.Start", err)
	}
	if re := resp.GetResponseError(); re != nil {
		return nil, &startFailure{summary: re.GetSummary(), detail: re.GetDetail()}
	}
	if resp.GetWorkflowStatus() == nil {
		return nil, errors.New("WorkflowInstance.Start: ill-formed answer: neither a status nor an error")
	}
	return resp.GetWorkflowStatus(), nil
}

// rpcError wraps a WorkflowInstance error with what was being done and, when
// nothing answered, a hint.
func (c *controller) rpcError(op string, err error) error {
	if connect.CodeOf(err) == connect.CodeUnavailable {
		return fmt.Errorf("%s: %w (is a controller running at %s? start one with edgeless-inabox, or set --controller-url)", op, err, c.url)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// nodeAdmin returns the admin client of the node at agentURL.
func (c *controller) nodeAdmin(agentURL string) orchestrator.NodeAdmin {
	return orchestrator.NodeAdmin{BaseURL: agentURL, HTTP: c.admin}
}
