package orchestrator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"google.golang.org/protobuf/encoding/protojson"
)

// The orchestrator's JSON admin API, served beside WorkflowInstance (its
// types and client are in package adminapi):
//
//	GET  /admin/v1/nodes            -> []NodeInfo
//	GET  /admin/v1/nodes?events=1   -> []NodeInfo with EventsReceived
//	GET  /admin/v1/workflows        -> []WorkflowInfo
//	GET  /admin/v1/workflows/{id}   -> WorkflowInfo
//	GET  /admin/v1/workflows/{id}/events?after=SEQ&follow=BOOL
//	                                -> application/x-ndjson stream of Event
//	                                   (with follow: until the workflow stops)
//	GET  /admin/v1/workflows/{id}/functions/{name}/telemetry?after=SEQ
//	                                -> {"entries": []LogEntry}: the function's
//	                                   TelemetryLog lines with seq > SEQ
//	POST /admin/v1/workflows        body: SpawnWorkflowRequest in protojson;
//	                                -> application/x-ndjson stream of Progress,
//	                                   ending with a "done" or "error" line.
//
// Errors are {"error": "..."} with a 4xx/5xx status.

// maxAdminBody bounds a POSTed workflow.
const maxAdminBody = 64 << 20

func (o *Orchestrator) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/v1/nodes", o.adminNodes)
	mux.HandleFunc("GET /admin/v1/workflows", o.adminWorkflows)
	mux.HandleFunc("GET /admin/v1/workflows/{id}", o.adminWorkflow)
	mux.HandleFunc("POST /admin/v1/workflows", o.adminStart)
	mux.HandleFunc("GET /admin/v1/workflows/{id}/functions/{name}/telemetry", o.adminTelemetry)
	mux.HandleFunc("GET /admin/v1/workflows/{id}/events", o.adminEvents)
	o.mountAdminActions(mux)
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("no admin endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (o *Orchestrator) adminNodes(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	load := map[string]int{}
	for _, wf := range o.workflows {
		for _, in := range wf.funcs {
			load[in.nodeID]++
		}
	}
	out := []adminapi.NodeInfo{}
	for _, n := range o.sortedNodesLocked() {
		providers := []string{}
		for _, p := range n.resources {
			providers = append(providers, p.GetProviderId()+" ("+p.GetClassType()+")")
		}
		var health *adminapi.NodeHealth
		if h := n.health; h != nil {
			health = &adminapi.NodeHealth{ProcCPUPercent: h.GetProcCpuUsage(), ProcRSSKiB: h.GetProcMemory(),
				MemAvailableKiB: h.GetMemAvailable(), LoadAvg1: float64(h.GetLoadAvg_1()) / 100}
		}
		out = append(out, adminapi.NodeInfo{
			ResourceProviders: providers, Health: health,
			NodeID: n.id, AgentURL: n.agentURL, InvocationURL: n.invocationURL,
			Status: string(n.status), Error: n.lastErr,
			Runtimes: n.caps.GetRuntimes(), Labels: n.caps.GetLabels(),
			RegisteredAt: n.registeredAt, LastSeen: n.lastSeen, Deadline: n.deadline,
			Instances: load[n.id],
		})
	}
	o.mu.Unlock()
	if r.URL.Query().Get("events") == "1" {
		o.addNodeEvents(r.Context(), out)
	}
	adminapi.WriteJSON(w, http.StatusOK, out)
}

func (o *Orchestrator) adminWorkflows(w http.ResponseWriter, _ *http.Request) {
	out := []adminapi.WorkflowInfo{}
	for _, r := range o.records() {
		out = append(out, o.info(r))
	}
	adminapi.WriteJSON(w, http.StatusOK, out)
}

func (o *Orchestrator) adminWorkflow(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec := o.record(id)
	if rec == nil {
		adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("%w %q", ErrUnknownWorkflow, id))
		return
	}
	wi := o.info(rec)
	if r.URL.Query().Get("events") == "1" {
		o.addEvents(r.Context(), &wi)
	}
	adminapi.WriteJSON(w, http.StatusOK, wi)
}

func (o *Orchestrator) adminTelemetry(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	rec := o.record(id)
	if rec == nil {
		adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("%w %q", ErrUnknownWorkflow, id))
		return
	}
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("after=%q: want a sequence number", v))
			return
		}
	}
	for _, in := range o.funcs(rec) {
		if in.name == name {
			entries, _ := o.Logs(in.functionID, after)
			if entries == nil {
				entries = []adminapi.LogEntry{}
			}
			adminapi.WriteJSON(w, http.StatusOK, map[string][]adminapi.LogEntry{"entries": entries})
			return
		}
	}
	adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("workflow %s has no function %q", id, name))
}

// info is a record as WorkflowInfo.
func (o *Orchestrator) info(r *workflowRecord) adminapi.WorkflowInfo {
	wi := adminapi.WorkflowInfo{WorkflowID: r.id, CreatedAt: r.created, Functions: []adminapi.FunctionInfo{}}
	type spec struct{ outputs, annotations, configurations map[string]string }
	specs := map[string]spec{}
	for _, f := range r.req.GetWorkflowFunctions() {
		specs[f.GetName()] = spec{outputs: f.GetOutputMapping(), annotations: f.GetAnnotations()}
	}
	for _, res := range r.req.GetWorkflowResources() {
		specs[res.GetName()] = spec{outputs: res.GetOutputMapping(), configurations: res.GetConfigurations()}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, in := range r.funcs {
		sp := specs[in.name]
		fi := adminapi.FunctionInfo{
			OutputMapping: sp.outputs, Annotations: sp.annotations, Configurations: sp.configurations,
			Name: in.name, ClassID: in.classID, FunctionType: in.functionType, Code: in.code,
			NodeID: in.nodeID, AgentURL: in.agentURL, FunctionID: in.functionID,
			StartedAt: in.startedAt, StartMS: ms(in.startDuration), Steps: in.steps,
		}
		if n := o.nodes[in.nodeID]; n == nil || n.incarnation != in.incarnation {
			fi.NodeGone = true
		}
		if h := r.health[in.name]; h != nil {
			fi.Health, fi.Reason, fi.Restarts, fi.Moves, fi.LastRestart = h.state, h.reason, h.restarts, h.moves, h.lastRestart
		}
		wi.Functions = append(wi.Functions, fi)
	}
	return wi
}

// adminStart starts a workflow and streams its progress, one JSON object
// per line, flushed as each step ends.
func (o *Orchestrator) adminStart(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("read workflow: %w", err))
		return
	}
	req := &edgelessapi.SpawnWorkflowRequest{}
	if err := protojson.Unmarshal(body, req); err != nil {
		adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("decode SpawnWorkflowRequest (protojson): %w", err))
		return
	}
	o.streamStart(w, r, req)
}

// streamStart starts req and streams its progress.
func (o *Orchestrator) streamStart(w http.ResponseWriter, r *http.Request, req *edgelessapi.SpawnWorkflowRequest) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(p adminapi.Progress) {
		// A client that stops reading must not stall the start (nor its
		// rollback): each line gets a write deadline.
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := enc.Encode(p); err == nil {
			_ = rc.Flush()
		}
	}
	if _, err := o.StartWorkflow(r.Context(), req, send); err != nil {
		summary, detail := describeStartError(err)
		send(adminapi.Progress{Type: adminapi.ProgressError, Error: summary, Detail: detail})
	}
}
