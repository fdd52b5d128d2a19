package adminapi

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

// maxAnswer bounds an admin answer a client reads.
const maxAnswer = 64 << 20

// Instance is one entry of the node's GET /admin/v1/instances.
type Instance struct {
	FunctionID string `json:"function_id"`
	NodeID     string `json:"node_id"`
	ClassID    string `json:"class_id"`
	// FunctionType is the class's function type (CONTAINER, RUST_WASM).
	FunctionType  string `json:"function_type"`
	Image         string `json:"image"`
	ContainerID   string `json:"container_id"`
	ContainerName string `json:"container_name"`
	State         string `json:"state"`
	// StartedAt is when the container started (else when Start was asked
	// for), to the second.
	StartedAt  time.Time `json:"started_at"`
	WorkflowID string    `json:"workflow_id"`
	// ExitReason and ExitCode say why an exited instance ended ("exited",
	// "oom-killed", "killed", "vanished").
	ExitReason string `json:"exit_reason,omitempty"`
	ExitCode   int    `json:"exit_code,omitempty"`
	// EventsReceived counts the events (casts and calls) the instance's
	// queues accepted since it was registered with the data plane.
	EventsReceived uint64 `json:"events_received"`
	// EventsSent counts the events (casts and calls) the instance sent by
	// output alias ("self" included), only those sent without error.
	EventsSent map[string]uint64 `json:"events_sent,omitempty"`
	Steps
}

// Exit is one entry of the node's GET /admin/v1/exits: an instance that
// ended on its own.
type Exit struct {
	// Seq numbers the node's exits from 1.
	Seq        uint64    `json:"seq"`
	FunctionID string    `json:"function_id"`
	WorkflowID string    `json:"workflow_id"`
	Reason     string    `json:"reason"`
	ExitCode   int       `json:"exit_code"`
	At         time.Time `json:"at"`
	// LastLogs are the last lines the instance wrote.
	LastLogs []string `json:"last_logs,omitempty"`
}

// Describe says why the instance ended, e.g. "exited (exit code 3)" or
// "oom-killed".
func (e Exit) Describe() string {
	if e.Reason == "exited" {
		return fmt.Sprintf("exited (exit code %d)", e.ExitCode)
	}
	if e.ExitCode != 0 && e.ExitCode != -1 {
		return fmt.Sprintf("%s (exit code %d)", e.Reason, e.ExitCode)
	}
	return e.Reason
}

// Exits is the answer of GET /admin/v1/exits.
type Exits struct {
	Exits []Exit `json:"exits"`
}

// LogLine is one output line of an instance.
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// Logs is the answer of GET /admin/v1/instances/{id}/logs.
type Logs struct {
	Lines []LogLine `json:"lines"`
}

// CallResult is the answer of POST /admin/v1/instances/{id}/call.
type CallResult struct {
	// Type is "REPLY", "NO_REPLY" or "ERR".
	Type string `json:"type"`
	// Msg is a UTF-8 reply; MsgBase64 any other.
	Msg       string `json:"msg,omitempty"`
	MsgBase64 string `json:"msg_base64,omitempty"`
}

// Payload returns the reply's bytes.
func (r CallResult) Payload() ([]byte, error) {
	if r.MsgBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(r.MsgBase64)
		if err != nil {
			return nil, fmt.Errorf("decode msg_base64: %w", err)
		}
		return b, nil
	}
	return []byte(r.Msg), nil
}

// ErrNoNodeAdmin: the node does not serve the admin API (e.g. it is
// upstream's node).
var ErrNoNodeAdmin = errors.New("the node has no admin API (is it upstream's node?)")

// Node is a client of one node's admin API.
type Node struct {
	// BaseURL is the node's agent URL, e.g. "http://127.0.0.1:7005".
	BaseURL string
	// HTTP is the client to use (http.DefaultClient when nil).
	HTTP *http.Client
}

// Instances lists the node's instances.
func (c Node) Instances(ctx context.Context) ([]Instance, error) {
	var out []Instance
	err := c.do(ctx, http.MethodGet, "/admin/v1/instances", nil, &out)
	return out, err
}

// Instance returns one instance of the node.
func (c Node) Instance(ctx context.Context, functionID string) (Instance, error) {
	all, err := c.Instances(ctx)
	if err != nil {
		return Instance{}, err
	}
	for _, in := range all {
		if in.FunctionID == functionID {
			return in, nil
		}
	}
	return Instance{}, fmt.Errorf("node %s has no instance %s", c.BaseURL, functionID)
}

// Exits returns the node's exits with Seq > after, waiting up to wait for
// one to come (the node caps the wait at 30 s).
func (c Node) Exits(ctx context.Context, after uint64, wait time.Duration) ([]Exit, error) {
	var out Exits
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/admin/v1/exits?after=%d&wait_ms=%d", after, wait.Milliseconds()), nil, &out)
	return out.Exits, err
}

// Logs returns an instance's recent output lines.
func (c Node) Logs(ctx context.Context, functionID string) ([]LogLine, error) {
	var out Logs
	err := c.do(ctx, http.MethodGet, "/admin/v1/instances/"+url.PathEscape(functionID)+"/logs", nil, &out)
	return out.Lines, err
}

// Cast sends payload to the instance as a cast.
func (c Node) Cast(ctx context.Context, functionID string, payload []byte) error {
	return c.do(ctx, http.MethodPost, "/admin/v1/instances/"+url.PathEscape(functionID)+"/cast", payload, nil)
}

// Call sends payload to the instance as a call and returns its reply.
func (c Node) Call(ctx context.Context, functionID string, payload []byte) (CallResult, error) {
	var r CallResult
	err := c.do(ctx, http.MethodPost, "/admin/v1/instances/"+url.PathEscape(functionID)+"/call", payload, &r)
	return r, err
}

func (c Node) do(ctx context.Context, method, path string, body []byte, out any) error {
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
	if method == http.MethodPost {
		// The node's admin API refuses a POST without it (adminguard).
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("node admin %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("node admin %s %s: read answer: %w", method, u, err)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/grpc") ||
		(resp.StatusCode >= 300 && !strings.HasPrefix(ct, "application/json")) {
		// Not our admin API (upstream's node answers gRPC only).
		return fmt.Errorf("node admin %s %s: %s: %w", method, u, resp.Status, ErrNoNodeAdmin)
	}
	if resp.StatusCode >= 300 {
		var e Error
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
