package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/workflow"
)

// The admin API's actions and live views, for the console and the CLI:
//
//	POST /admin/v1/workflow-files                      body: upstream workflow JSON
//	                                                   -> the Progress stream of POST /admin/v1/workflows
//	POST /admin/v1/workflows/{id}/stop                 -> {"workflow_id": id}
//	POST /admin/v1/workflows/{id}/functions/{name}/cast  body: EventRequest -> {}
//	POST /admin/v1/workflows/{id}/functions/{name}/call  body: EventRequest -> CallResult
//	GET  /admin/v1/workflows/{id}/functions/{name}/logs  -> Logs (the instance's output)
//	GET  /admin/v1/workflows/{id}?events=1             -> WorkflowInfo with EventsReceived, EventsSent
//
// Casts, calls and logs are forwarded to the admin API of the function's
// node, so that a client of the controller alone (the console in a
// browser) can reach them.

// maxEventBody bounds a POSTed EventRequest (the node's own limit is
// higher; a console payload is typed by hand).
const maxEventBody = 1 << 20

// nodeAdminTimeout bounds one forwarded request to a node's admin API.
const nodeAdminTimeout = 10 * time.Second

func (o *Orchestrator) mountAdminActions(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/v1/workflow-files", o.adminStartFile)
	mux.HandleFunc("POST /admin/v1/workflows/{id}/stop", o.adminStop)
	mux.HandleFunc("POST /admin/v1/workflows/{id}/functions/{name}/cast", o.adminEvent)
	mux.HandleFunc("POST /admin/v1/workflows/{id}/functions/{name}/call", o.adminEvent)
	mux.HandleFunc("GET /admin/v1/workflows/{id}/functions/{name}/logs", o.adminOutput)
}

// adminStartFile starts a workflow given as upstream's workflow file,
// parsed and validated as the CLI does, so that errors name the place.
func (o *Orchestrator) adminStartFile(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("read workflow file: %w", err))
		return
	}
	spec, err := workflow.Parse(body)
	if err != nil {
		adminapi.WriteError(w, http.StatusBadRequest, err)
		return
	}
	for i, f := range spec.Functions {
		// The file's code path would be read on this machine: only the CLI,
		// on the user's machine, may turn a path into a binary.
		if f.Class.FunctionType == workflow.TypeRustWasm && len(f.Class.Binary) == 0 {
			adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("functions[%d] %q.class_specification.code: a RUST_WASM file is read by the CLI (edgeless workflow start), not uploaded here", i, f.Name))
			return
		}
	}
	req, err := spec.Request("")
	if err == nil {
		err = workflow.Validate(req)
	}
	if err != nil {
		adminapi.WriteError(w, http.StatusBadRequest, err)
		return
	}
	o.streamStart(w, r, req)
}

func (o *Orchestrator) adminStop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := o.StopWorkflow(r.Context(), id); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ErrUnknownWorkflow) {
			status = http.StatusNotFound
		}
		adminapi.WriteError(w, status, err)
		return
	}
	adminapi.WriteJSON(w, http.StatusOK, map[string]string{"workflow_id": id})
}

// function finds a function of a workflow and writes 404 if there is none.
func (o *Orchestrator) function(w http.ResponseWriter, r *http.Request) (*instance, bool) {
	id, name := r.PathValue("id"), r.PathValue("name")
	rec := o.record(id)
	if rec == nil {
		adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("%w %q", ErrUnknownWorkflow, id))
		return nil, false
	}
	for _, in := range rec.funcs {
		if in.name == name {
			return in, true
		}
	}
	adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("workflow %s has no function %q", id, name))
	return nil, false
}

func (o *Orchestrator) adminEvent(w http.ResponseWriter, r *http.Request) {
	in, ok := o.function(w, r)
	if !ok {
		return
	}
	var ev adminapi.EventRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEventBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("decode EventRequest: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeAdminTimeout)
	defer cancel()
	node := adminapi.Node{BaseURL: in.agentURL, HTTP: o.adminHTTP}
	if r.URL.Path[len(r.URL.Path)-4:] == "cast" {
		if err := node.Cast(ctx, in.functionID, []byte(ev.Payload)); err != nil {
			adminapi.WriteError(w, http.StatusBadGateway, err)
			return
		}
		adminapi.WriteJSON(w, http.StatusOK, struct{}{})
		return
	}
	res, err := node.Call(ctx, in.functionID, []byte(ev.Payload))
	if err != nil {
		adminapi.WriteError(w, http.StatusBadGateway, err)
		return
	}
	adminapi.WriteJSON(w, http.StatusOK, res)
}

func (o *Orchestrator) adminOutput(w http.ResponseWriter, r *http.Request) {
	in, ok := o.function(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeAdminTimeout)
	defer cancel()
	lines, err := adminapi.Node{BaseURL: in.agentURL, HTTP: o.adminHTTP}.Logs(ctx, in.functionID)
	if err != nil {
		adminapi.WriteError(w, http.StatusBadGateway, err)
		return
	}
	if lines == nil {
		lines = []adminapi.LogLine{}
	}
	adminapi.WriteJSON(w, http.StatusOK, adminapi.Logs{Lines: lines})
}

// instancesMaxAge is how long a node's instance list is reused: the
// console's pages each poll once a second, and however many are open, a
// node is asked about once per this period.
const instancesMaxAge = 500 * time.Millisecond

// instancesCache holds the last instance list of each node's admin API.
type instancesCache struct {
	mu    sync.Mutex
	lists map[string]cachedInstances
}

type cachedInstances struct {
	at  time.Time
	ins []adminapi.Instance
}

// nodeInstances returns the instance list of the node at agentURL, asking
// it unless a list younger than instancesMaxAge is at hand. Lists of nodes
// not asked about for a minute are dropped.
func (o *Orchestrator) nodeInstances(ctx context.Context, agentURL string) ([]adminapi.Instance, error) {
	c := &o.instances
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.lists[agentURL]; ok && now.Sub(e.at) < instancesMaxAge {
		c.mu.Unlock()
		return e.ins, nil
	}
	c.mu.Unlock()
	ins, err := adminapi.Node{BaseURL: agentURL, HTTP: o.adminHTTP}.Instances(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lists == nil {
		c.lists = map[string]cachedInstances{}
	}
	for u, e := range c.lists {
		if now.Sub(e.at) > time.Minute {
			delete(c.lists, u)
		}
	}
	c.lists[agentURL] = cachedInstances{at: now, ins: ins}
	return ins, nil
}

// addEvents fills the EventsReceived and EventsSent of wi's functions
// from their nodes' admin APIs, one request per node. A node that does not answer (or has
// no admin API, like upstream's) leaves its functions' counts unset.
func (o *Orchestrator) addEvents(ctx context.Context, wi *adminapi.WorkflowInfo) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	byNode := map[string][]int{}
	for i, f := range wi.Functions {
		if f.FunctionType != adminapi.FunctionTypeResource && !f.NodeGone && f.AgentURL != "" {
			byNode[f.AgentURL] = append(byNode[f.AgentURL], i)
		}
	}
	for url, idx := range byNode {
		ins, err := o.nodeInstances(ctx, url)
		if err != nil {
			o.log.Debug("no event counts from node", "agent_url", url, "err", err)
			continue
		}
		byID := make(map[string]adminapi.Instance, len(ins))
		for _, in := range ins {
			byID[in.FunctionID] = in
		}
		for _, i := range idx {
			if in, ok := byID[wi.Functions[i].FunctionID]; ok {
				n := in.EventsReceived
				wi.Functions[i].EventsReceived = &n
				wi.Functions[i].EventsSent = in.EventsSent
			}
		}
	}
}

// addNodeEvents fills the EventsReceived of nodes from their admin APIs,
// asking them at once. A node that does not answer (or has no admin API,
// like upstream's) leaves its count unset.
func (o *Orchestrator) addNodeEvents(ctx context.Context, nodes []adminapi.NodeInfo) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range nodes {
		if nodes[i].AgentURL == "" {
			continue
		}
		wg.Add(1)
		go func(n *adminapi.NodeInfo) {
			defer wg.Done()
			ins, err := o.nodeInstances(ctx, n.AgentURL)
			if err != nil {
				o.log.Debug("no event counts from node", "agent_url", n.AgentURL, "err", err)
				return
			}
			var sum uint64
			for _, in := range ins {
				sum += in.EventsReceived
			}
			n.EventsReceived = &sum
		}(&nodes[i])
	}
	wg.Wait()
}
