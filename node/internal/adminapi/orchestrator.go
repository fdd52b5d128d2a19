package adminapi

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
	"strconv"
	"strings"
	"time"
)

// Steps are the durations of an instance's start steps in milliseconds, as
// its node reports them; a nil field was not reported. Boot includes
// whatever the node does before Boot answers (image check, container create
// and start) unless the node reports those separately.
type Steps struct {
	ImageMS  *float64 `json:"image_ms,omitempty"`
	CreateMS *float64 `json:"create_ms,omitempty"`
	BootMS   *float64 `json:"boot_ms,omitempty"`
	InitMS   *float64 `json:"init_ms,omitempty"`
	// PoolHit is set when the instance took a prewarmed container (then
	// CreateMS is absent).
	PoolHit bool `json:"pool_hit,omitempty"`
}

// Progress is one line of the start stream (POST /admin/v1/workflows).
type Progress struct {
	// Type is one of the Progress* constants.
	Type       string `json:"type"`
	WorkflowID string `json:"workflow_id,omitempty"`
	Function   string `json:"function,omitempty"`
	// Resource is set when Function names a resource of the workflow.
	Resource   bool   `json:"resource,omitempty"`
	Image      string `json:"image,omitempty"`
	NodeID     string `json:"node_id,omitempty"`
	FunctionID string `json:"function_id,omitempty"`
	// DurationMS is the duration of the step the event ends.
	DurationMS float64 `json:"duration_ms,omitempty"`
	Steps      *Steps  `json:"steps,omitempty"`
	Error      string  `json:"error,omitempty"`
	// Detail is the longer explanation of an error.
	Detail string `json:"detail,omitempty"`
}

// FunctionTypeResource is the function type the orchestrator's admin API
// shows for resource instances (their class id is the class type).
const FunctionTypeResource = "RESOURCE"

// Progress types, in the order they occur.
const (
	// ProgressPlaced: a node was chosen for Function.
	ProgressPlaced = "placed"
	// ProgressStarted: Function is running (DurationMS, Steps).
	ProgressStarted = "started"
	// ProgressFailed: Function did not start or could not be wired (Error).
	ProgressFailed = "failed"
	// ProgressRolledBack: Function, started earlier, was stopped because
	// the workflow failed (Error set if the stop failed).
	ProgressRolledBack = "rolled_back"
	// ProgressPatched: every output mapping is in place (DurationMS).
	ProgressPatched = "patched"
	// ProgressDone: the workflow runs (WorkflowID).
	ProgressDone = "done"
	// ProgressError: the workflow did not start (Error, Detail). Last line.
	ProgressError = "error"
)

// WorkflowInfo is GET /admin/v1/workflows/{id}.
type WorkflowInfo struct {
	WorkflowID string         `json:"workflow_id"`
	CreatedAt  time.Time      `json:"created_at"`
	Functions  []FunctionInfo `json:"functions"`
}

// FunctionInfo is one function of a workflow as the orchestrator sees it.
type FunctionInfo struct {
	Name         string    `json:"name"`
	ClassID      string    `json:"class_id"`
	FunctionType string    `json:"function_type"`
	Code         string    `json:"code"`
	NodeID       string    `json:"node_id"`
	AgentURL     string    `json:"agent_url"`
	FunctionID   string    `json:"function_id"`
	StartedAt    time.Time `json:"started_at"`
	// StartMS is how long FunctionInstance.Start took.
	StartMS float64 `json:"start_ms"`
	Steps   Steps   `json:"steps"`
	// OutputMapping maps each output alias to the name of the function or
	// resource it goes to, as the workflow file said.
	OutputMapping map[string]string `json:"output_mapping,omitempty"`
	// Annotations are a function's annotations (e.g. init-payload).
	Annotations map[string]string `json:"annotations,omitempty"`
	// Configurations are a resource's configurations.
	Configurations map[string]string `json:"configurations,omitempty"`
	// EventsReceived counts the events the instance received, as its node
	// reports them; set only when asked for (GET ...?events=1) and known.
	EventsReceived *uint64 `json:"events_received,omitempty"`
	// EventsSent counts the events the instance sent by output alias (one
	// arrow of the workflow graph each), as its node reports them; set
	// only when asked for (GET ...?events=1) and known.
	EventsSent map[string]uint64 `json:"events_sent,omitempty"`
	// NodeGone is true when the hosting node has left the registry (or
	// restarted): the instance no longer exists.
	NodeGone bool `json:"node_gone,omitempty"`
	// Health is the orchestrator's view of the function: one of the
	// Health* constants ("" from an orchestrator without self-healing).
	Health string `json:"health,omitempty"`
	// Reason says why the function last crashed, moved or failed, e.g.
	// "exited (exit code 3)", "oom-killed", "node 5d…: missed its refresh
	// deadline".
	Reason string `json:"reason,omitempty"`
	// Restarts counts the replacements after a crash; Moves those after
	// the loss of the function's node.
	Restarts int `json:"restarts,omitempty"`
	Moves    int `json:"moves,omitempty"`
	// LastRestart is when the last replacement started.
	LastRestart time.Time `json:"last_restart,omitzero"`
}

// The health of a function (FunctionInfo.Health).
const (
	// HealthRunning: the instance runs.
	HealthRunning = "running"
	// HealthRestarting: the instance crashed; a replacement is due.
	HealthRestarting = "restarting"
	// HealthMoving: the instance's node was lost; it is being re-placed.
	HealthMoving = "moving"
	// HealthWaiting: no node can host the replacement now; it is retried
	// when a node becomes ready.
	HealthWaiting = "waiting"
	// HealthFailed: the function is not restarted again (crash loop, or
	// the workflow's restart_policy is "never"); Reason says why.
	HealthFailed = "failed"
)

// Event is one lifecycle event of a workflow (GET
// /admin/v1/workflows/{id}/events).
type Event struct {
	// Seq numbers the workflow's events from 1.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Type is one of the Event* constants.
	Type       string `json:"type"`
	Function   string `json:"function,omitempty"`
	FunctionID string `json:"function_id,omitempty"`
	NodeID     string `json:"node_id,omitempty"`
	// Reason says why (crashed, node_lost, failed, waiting).
	Reason string `json:"reason,omitempty"`
	// Restarts is the function's restart count after the event.
	Restarts int `json:"restarts,omitempty"`
	// DelayMS is the backoff before the next restart (restarting).
	DelayMS float64 `json:"delay_ms,omitempty"`
	// DurationMS is how long the replacement took (restarted, moved): from
	// the crash or loss to the new instance running and wired.
	DurationMS float64 `json:"duration_ms,omitempty"`
}

// Event types.
const (
	// EventStarted: the function's first instance runs.
	EventStarted = "started"
	// EventCrashed: the instance ended on its own (Reason).
	EventCrashed = "crashed"
	// EventRestarting: a replacement will start after DelayMS.
	EventRestarting = "restarting"
	// EventRestarted: the replacement runs and its peers are re-wired.
	EventRestarted = "restarted"
	// EventNodeLost: the instance's node left (Reason); it is re-placed.
	EventNodeLost = "node_lost"
	// EventMoved: the function runs on another node (NodeID).
	EventMoved = "moved"
	// EventWaiting: no node can host the function now (Reason).
	EventWaiting = "waiting"
	// EventFailed: the function is not restarted again (Reason).
	EventFailed = "failed"
	// EventStopped: the workflow was stopped; the stream ends.
	EventStopped = "stopped"
)

// EventRequest is the body of POST
// /admin/v1/workflows/{id}/functions/{name}/cast and .../call.
type EventRequest struct {
	// Payload is the event's payload, as text.
	Payload string `json:"payload"`
}

// LogEntry is one TelemetryLog line of an instance, as its node reported it
// in UpdateNode's performance samples (function_log_entries).
type LogEntry struct {
	// Seq numbers the entries of one instance from 1, so that a reader can
	// ask for what came after the last one it saw.
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Target string    `json:"target"`
	Msg    string    `json:"msg"`
}

// Telemetry is the answer of GET
// /admin/v1/workflows/{id}/functions/{name}/telemetry.
type Telemetry struct {
	Entries []LogEntry `json:"entries"`
}

// NodeInfo is one entry of GET /admin/v1/nodes.
type NodeInfo struct {
	NodeID        string    `json:"node_id"`
	AgentURL      string    `json:"agent_url"`
	InvocationURL string    `json:"invocation_url"`
	Status        string    `json:"status"`
	Error         string    `json:"error,omitempty"`
	Runtimes      []string  `json:"runtimes"`
	Labels        []string  `json:"labels"`
	RegisteredAt  time.Time `json:"registered_at"`
	LastSeen      time.Time `json:"last_seen"`
	Deadline      time.Time `json:"deadline"`
	Instances     int       `json:"instances"`
	// EventsReceived is the sum of the events its current instances
	// received, as the node reports it; set only when asked for (GET
	// /admin/v1/nodes?events=1) and known.
	EventsReceived *uint64 `json:"events_received,omitempty"`
	// ResourceProviders are the node's resource providers, "id (class)".
	ResourceProviders []string `json:"resource_providers"`
	// Health is what the node last reported of itself (nil if nothing).
	Health *NodeHealth `json:"health,omitempty"`
}

// NodeHealth is the part of a node's NodeHealthStatus an operator looks at.
type NodeHealth struct {
	// ProcCPUPercent is the node process's CPU usage.
	ProcCPUPercent int32 `json:"proc_cpu_percent"`
	// ProcRSSKiB is the node process's resident memory.
	ProcRSSKiB int32 `json:"proc_rss_kib"`
	// MemAvailableKiB is the machine's available memory.
	MemAvailableKiB int32 `json:"mem_available_kib"`
	// LoadAvg1 is the machine's load average over a minute.
	LoadAvg1 float64 `json:"load_avg_1"`
}

// ErrNoAdmin: the controller does not serve the admin API (e.g. it is
// upstream's ε-CON).
var ErrNoAdmin = errors.New("the controller has no admin API (is it upstream's controller?)")

// StartError is a workflow start the controller refused.
type StartError struct {
	Summary, Detail string
}

// Error says why the workflow did not start (the detail if there is one).
func (e *StartError) Error() string {
	if e.Detail == "" {
		return "workflow not started: " + e.Summary
	}
	return "workflow not started: " + e.Detail
}

// Controller is a client of the orchestrator's admin API.
type Controller struct {
	// BaseURL is the controller URL, e.g. "http://127.0.0.1:7001".
	BaseURL string
	// HTTP is the client to use (http.DefaultClient when nil).
	HTTP *http.Client
}

func (c Controller) client() *http.Client {
	if c.HTTP == nil {
		return http.DefaultClient
	}
	return c.HTTP
}

// Get GETs an admin path (e.g. "/admin/v1/nodes") into out.
func (c Controller) Get(ctx context.Context, path string, out any) error {
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	return decodeAnswer(resp, out)
}

// Nodes lists the registered nodes.
func (c Controller) Nodes(ctx context.Context) ([]NodeInfo, error) {
	var out []NodeInfo
	return out, c.Get(ctx, "/admin/v1/nodes", &out)
}

// NodesEvents lists the registered nodes with the events their instances
// received (NodeInfo.EventsReceived) as each node reports it.
func (c Controller) NodesEvents(ctx context.Context) ([]NodeInfo, error) {
	var out []NodeInfo
	return out, c.Get(ctx, "/admin/v1/nodes?events=1", &out)
}

// Workflows lists the running workflows.
func (c Controller) Workflows(ctx context.Context) ([]WorkflowInfo, error) {
	var out []WorkflowInfo
	return out, c.Get(ctx, "/admin/v1/workflows", &out)
}

// Workflow returns the orchestrator's view of a workflow.
func (c Controller) Workflow(ctx context.Context, id string) (*WorkflowInfo, error) {
	var wi WorkflowInfo
	if err := c.Get(ctx, "/admin/v1/workflows/"+url.PathEscape(id), &wi); err != nil {
		return nil, err
	}
	return &wi, nil
}

// Function finds a function of a workflow by name.
func (c Controller) Function(ctx context.Context, workflowID, name string) (*FunctionInfo, error) {
	wi, err := c.Workflow(ctx, workflowID)
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

// Telemetry returns a function's TelemetryLog entries after seq after.
func (c Controller) Telemetry(ctx context.Context, workflowID, name string, after uint64) ([]LogEntry, error) {
	var got Telemetry
	err := c.Get(ctx, "/admin/v1/workflows/"+url.PathEscape(workflowID)+"/functions/"+url.PathEscape(name)+"/telemetry?after="+strconv.FormatUint(after, 10), &got)
	return got.Entries, err
}

// Events streams a workflow's lifecycle events with Seq > after to fn,
// until the workflow stops (the last event is EventStopped), ctx is done
// or fn returns an error. With follow false it returns after the events
// recorded so far.
func (c Controller) Events(ctx context.Context, workflowID string, after uint64, follow bool, fn func(Event) error) error {
	u := fmt.Sprintf("%s/admin/v1/workflows/%s/events?after=%d&follow=%t", strings.TrimSuffix(c.BaseURL, "/"), url.PathEscape(workflowID), after, follow)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		var dummy any
		if err := decodeAnswer(resp, &dummy); err != nil {
			return err
		}
		return ErrNoAdmin
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("workflow events: bad line %q: %w", sc.Text(), err)
		}
		if err := fn(e); err != nil {
			return err
		}
		if e.Type == EventStopped {
			return nil
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("workflow events: %w", err)
	}
	return ctx.Err()
}

// Start starts a workflow (spawnRequest: a SpawnWorkflowRequest in
// protojson) and calls progress for each step. It returns the workflow id,
// a *StartError if the controller refused, or ErrNoAdmin (before anything
// started) when the controller does not serve the admin API.
func (c Controller) Start(ctx context.Context, spawnRequest []byte, progress func(Progress)) (string, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+"/admin/v1/workflows", bytes.NewReader(spawnRequest))
	if err != nil {
		return "", err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.client().Do(hreq)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoAdmin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		var dummy any
		if err := decodeAnswer(resp, &dummy); err != nil {
			return "", err
		}
		return "", ErrNoAdmin
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var p Progress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return "", fmt.Errorf("start progress: bad line %q: %w", sc.Text(), err)
		}
		progress(p)
		switch p.Type {
		case ProgressDone:
			return p.WorkflowID, nil
		case ProgressError:
			return "", &StartError{Summary: p.Error, Detail: p.Detail}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("start progress: %w", err)
	}
	return "", errors.New("start progress: the controller closed the stream before the workflow started or failed")
}

func decodeAnswer(resp *http.Response, out any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", resp.Request.Method, resp.Request.URL, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") &&
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		return fmt.Errorf("%s %s: %w", resp.Request.Method, resp.Request.URL, ErrNoAdmin)
	}
	if resp.StatusCode >= 300 {
		var e Error
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

// Post POSTs in as JSON to an admin path into out (nil to discard).
func (c Controller) Post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	if out == nil {
		var discard any
		out = &discard
	}
	return decodeAnswer(resp, out)
}

// WorkflowEvents returns a workflow with each function's received-event
// count (FunctionInfo.EventsReceived) as its node reports it.
func (c Controller) WorkflowEvents(ctx context.Context, id string) (*WorkflowInfo, error) {
	var wi WorkflowInfo
	if err := c.Get(ctx, "/admin/v1/workflows/"+url.PathEscape(id)+"?events=1", &wi); err != nil {
		return nil, err
	}
	return &wi, nil
}

// StopWorkflow stops a workflow through the admin API.
func (c Controller) StopWorkflow(ctx context.Context, id string) error {
	return c.Post(ctx, "/admin/v1/workflows/"+url.PathEscape(id)+"/stop", struct{}{}, nil)
}

func functionPath(workflowID, name, what string) string {
	return "/admin/v1/workflows/" + url.PathEscape(workflowID) + "/functions/" + url.PathEscape(name) + "/" + what
}

// Cast sends payload to a function of a workflow as a cast, through the
// orchestrator (which forwards it to the function's node).
func (c Controller) Cast(ctx context.Context, workflowID, name, payload string) error {
	return c.Post(ctx, functionPath(workflowID, name, "cast"), EventRequest{Payload: payload}, nil)
}

// Call sends payload to a function of a workflow as a call, through the
// orchestrator, and returns the reply.
func (c Controller) Call(ctx context.Context, workflowID, name, payload string) (CallResult, error) {
	var r CallResult
	err := c.Post(ctx, functionPath(workflowID, name, "call"), EventRequest{Payload: payload}, &r)
	return r, err
}

// Output returns a function's recent output lines, through the
// orchestrator.
func (c Controller) Output(ctx context.Context, workflowID, name string) ([]LogLine, error) {
	var l Logs
	err := c.Get(ctx, functionPath(workflowID, name, "logs"), &l)
	return l.Lines, err
}
