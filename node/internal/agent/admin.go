package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// MaxAdminBody caps the payload of an admin cast or call.
const MaxAdminBody = 64 << 20

// InstanceJSON is one instance in GET /admin/v1/instances.
type InstanceJSON struct {
	FunctionID    string `json:"function_id"`
	NodeID        string `json:"node_id"`
	ClassID       string `json:"class_id"`
	Image         string `json:"image"`
	ContainerID   string `json:"container_id"`
	ContainerName string `json:"container_name"`
	State         string `json:"state"`
	StartedAt     string `json:"started_at"`
	ImageMS       int64  `json:"image_ms"`
	CreateMS      int64  `json:"create_ms"`
	BootMS        int64  `json:"boot_ms"`
	InitMS        int64  `json:"init_ms"`
	WorkflowID    string `json:"workflow_id"`
}

// LogLineJSON is one line in GET /admin/v1/instances/{id}/logs.
type LogLineJSON struct {
	Time   string `json:"time"`
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// CallResultJSON is the answer of POST /admin/v1/instances/{id}/call.
type CallResultJSON struct {
	Type      string `json:"type"`
	Msg       string `json:"msg,omitempty"`
	MsgBase64 string `json:"msg_base64,omitempty"`
}

func (a *Agent) mountAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/instances", a.adminList)
	mux.HandleFunc("GET /admin/v1/instances/{id}/logs", a.adminLogs)
	mux.HandleFunc("POST /admin/v1/instances/{id}/cast", a.adminCast)
	mux.HandleFunc("POST /admin/v1/instances/{id}/call", a.adminCall)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (a *Agent) describe(in *instance) InstanceJSON {
	j := InstanceJSON{
		FunctionID: in.id.FunctionID,
		NodeID:     in.id.NodeID,
		ClassID:    in.classID,
		State:      in.currentState(),
		StartedAt:  in.requested.UTC().Format(time.RFC3339),
		WorkflowID: in.workflowID,
	}
	if inst := in.runtimeInstance(); inst != nil {
		info := inst.Info()
		j.Image, j.ContainerID, j.ContainerName = info.Image, info.ContainerID, info.ContainerName
		j.ImageMS, j.CreateMS = info.ImageDuration.Milliseconds(), info.CreateDuration.Milliseconds()
		j.BootMS, j.InitMS = info.BootDuration.Milliseconds(), info.InitDuration.Milliseconds()
		if !info.StartedAt.IsZero() {
			j.StartedAt = info.StartedAt.UTC().Format(time.RFC3339)
		}
	}
	return j
}

func (a *Agent) adminList(w http.ResponseWriter, _ *http.Request) {
	out := []InstanceJSON{}
	for _, in := range a.all() {
		out = append(out, a.describe(in))
	}
	writeJSON(w, http.StatusOK, out)
}

// adminInstance finds the instance named in the path, or writes 404.
func (a *Agent) adminInstance(w http.ResponseWriter, r *http.Request) (*instance, bool) {
	id := r.PathValue("id")
	in, ok := a.lookup(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no instance %q on this node", id))
	}
	return in, ok
}

func (a *Agent) adminLogs(w http.ResponseWriter, r *http.Request) {
	in, ok := a.adminInstance(w, r)
	if !ok {
		return
	}
	lines := []LogLineJSON{}
	if inst := in.runtimeInstance(); inst != nil {
		for _, l := range inst.Logs() {
			lines = append(lines, LogLineJSON{Time: l.Time.UTC().Format(time.RFC3339Nano), Stream: l.Stream, Text: l.Text})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"lines": lines})
}

func readPayload(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAdminBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("payload larger than %d bytes", MaxAdminBody))
		} else {
			writeError(w, http.StatusBadRequest, fmt.Errorf("read payload: %w", err))
		}
		return nil, false
	}
	return body, true
}

func (a *Agent) adminCast(w http.ResponseWriter, r *http.Request) {
	in, ok := a.adminInstance(w, r)
	if !ok {
		return
	}
	msg, ok := readPayload(w, r)
	if !ok {
		return
	}
	if err := a.cfg.Dataplane.Cast(r.Context(), a.adminID, in.id, msg); err != nil {
		writeError(w, eventStatus(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) adminCall(w http.ResponseWriter, r *http.Request) {
	in, ok := a.adminInstance(w, r)
	if !ok {
		return
	}
	msg, ok := readPayload(w, r)
	if !ok {
		return
	}
	rep, err := a.cfg.Dataplane.Call(r.Context(), a.adminID, in.id, msg)
	if err != nil {
		writeError(w, eventStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, callResult(rep))
}

func callResult(rep contract.Reply) CallResultJSON {
	switch rep.Type {
	case edgelessapi.CallRetType_CALL_RET_REPLY:
		if utf8.Valid(rep.Msg) {
			return CallResultJSON{Type: "REPLY", Msg: string(rep.Msg)}
		}
		return CallResultJSON{Type: "REPLY", MsgBase64: base64.StdEncoding.EncodeToString(rep.Msg)}
	case edgelessapi.CallRetType_CALL_RET_NO_REPLY:
		return CallResultJSON{Type: "NO_REPLY"}
	default:
		return CallResultJSON{Type: "ERR"}
	}
}

// eventStatus maps a data-plane error to an HTTP status.
func eventStatus(err error) int {
	switch {
	case errors.Is(err, dataplane.ErrUnknownInstance):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, dataplane.ErrQueueFull):
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadGateway
	}
}
