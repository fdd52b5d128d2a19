package orchestrator

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The node admin API (served by our node on its agent URL) as seen by its
// clients: the orchestrator, for per-step durations, and the CLI.

// NodeInstance is one entry of the node's GET /admin/v1/instances.
type NodeInstance struct {
	FunctionID    string    `json:"function_id"`
	NodeID        string    `json:"node_id"`
	ClassID       string    `json:"class_id"`
	Image         string    `json:"image"`
	ContainerID   string    `json:"container_id"`
	ContainerName string    `json:"container_name"`
	State         string    `json:"state"`
	StartedAt     time.Time `json:"started_at"`
	WorkflowID    string    `json:"workflow_id"`
	Steps
}

// NodeLogLine is one line of GET /admin/v1/instances/{id}/logs.
type NodeLogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// NodeReply is the answer of POST /admin/v1/instances/{id}/call.
type NodeReply struct {
	// Type is "REPLY", "NO_REPLY" or "ERR".
	Type      string `json:"type"`
	Msg       string `json:"msg"`
	MsgBase64 string `json:"msg_base64,omitempty"`
}

// Payload returns the reply's bytes.
func (r NodeReply) Payload() ([]byte, error) {
	if r.MsgBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(r.MsgBase64)
		if err != nil {
			return nil, fmt.Errorf("decode msg_base64: %w", err)
		}
		return b, nil
	}
	return []byte(r.Msg), nil
}

// NodeAdmin is a client of one node's admin API.
type NodeAdmin struct {
	// BaseURL is the node's agent URL, e.g. "http://127.0.0.1:7005".
	BaseURL string
	// HTTP is the client to use (http.DefaultClient when nil).
	HTTP *http.Client
}

// Instances lists the node's instances.
func (c NodeAdmin) Instances(ctx context.Context) ([]NodeInstance, error) {
	var out []NodeInstance
	err := c.do(ctx, http.MethodGet, "/admin/v1/instances", nil, &out)
	return out, err
}

// Instance returns one instance of the node.
func (c NodeAdmin) Instance(ctx context.Context, functionID string) (NodeInstance, error) {
	all, err := c.Instances(ctx)
	if err != nil {
		return NodeInstance{}, err
	}
	for _, in := range all {
		if in.FunctionID == functionID {
			return in, nil
		}
	}
	return NodeInstance{}, fmt.Errorf("node %s has no instance %s", c.BaseURL, functionID)
}

// Logs returns an instance's recent output lines.
func (c NodeAdmin) Logs(ctx context.Context, functionID string) ([]NodeLogLine, error) {
	var out struct {
		Lines []NodeLogLine `json:"lines"`
	}
	err := c.do(ctx, http.MethodGet, "/admin/v1/instances/"+url.PathEscape(functionID)+"/logs", nil, &out)
	return out.Lines, err
}

// Cast sends payload to the instance as a cast.
func (c NodeAdmin) Cast(ctx context.Context, functionID string, payload []byte) error {
	return c.do(ctx, http.MethodPost, "/admin/v1/instances/"+url.PathEscape(functionID)+"/cast", payload, nil)
}

// Call sends payload to the instance as a call and returns its reply.
func (c NodeAdmin) Call(ctx context.Context, functionID string, payload []byte) (NodeReply, error) {
	var r NodeReply
	err := c.do(ctx, http.MethodPost, "/admin/v1/instances/"+url.PathEscape(functionID)+"/call", payload, &r)
	return r, err
}

func (c NodeAdmin) do(ctx context.Context, method, path string, body []byte, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("node admin %s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("node admin %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("node admin %s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("node admin %s %s: %s: %s", method, u, resp.Status, e.Error)
		}
		return fmt.Errorf("node admin %s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("node admin %s %s: decode answer: %w", method, u, err)
	}
	return nil
}

// instanceSteps asks the node for an instance's step durations. It is best
// effort: a node without the admin API (e.g. upstream's) reports none.
func (o *Orchestrator) instanceSteps(ctx context.Context, agentURL, functionID string) Steps {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	in, err := NodeAdmin{BaseURL: agentURL, HTTP: o.adminHTTP}.Instance(ctx, functionID)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			o.log.Debug("no step durations from node", "agent_url", agentURL, "instance", functionID, "err", err)
		}
		return Steps{}
	}
	return in.Steps
}
