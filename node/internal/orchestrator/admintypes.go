package orchestrator

import "time"

// The JSON types of the orchestrator's admin API, shared with the CLI.

// Steps are the durations of an instance's start steps in milliseconds, as
// its node reports them; a nil field was not reported. Boot includes
// whatever the node does before Boot answers (image check, container create
// and start) unless the node reports those separately.
type Steps struct {
	ImageMS  *float64 `json:"image_ms,omitempty"`
	CreateMS *float64 `json:"create_ms,omitempty"`
	BootMS   *float64 `json:"boot_ms,omitempty"`
	InitMS   *float64 `json:"init_ms,omitempty"`
}

// Progress is one line of the start stream (POST /admin/v1/workflows).
type Progress struct {
	// Type is one of the Progress* constants.
	Type       string `json:"type"`
	WorkflowID string `json:"workflow_id,omitempty"`
	Function   string `json:"function,omitempty"`
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
	// NodeGone is true when the hosting node has left the registry (or
	// restarted): the instance no longer exists.
	NodeGone bool `json:"node_gone,omitempty"`
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
}
