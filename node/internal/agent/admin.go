package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// MaxAdminBody caps the payload of an admin cast or call.
const MaxAdminBody = 64 << 20

func (a *Agent) mountAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/instances", a.adminList)
	mux.HandleFunc("GET /admin/v1/instances/{id}/logs", a.adminLogs)
	mux.HandleFunc("POST /admin/v1/instances/{id}/cast", a.adminCast)
	mux.HandleFunc("POST /admin/v1/instances/{id}/call", a.adminCall)
	mux.HandleFunc("GET /admin/v1/exits", a.adminExits)
}

func (a *Agent) describe(in *instance) adminapi.Instance {
	j := adminapi.Instance{
		FunctionID:   in.id.FunctionID,
		NodeID:       in.id.NodeID,
		ClassID:      in.classID,
		FunctionType: in.fnType,
		State:        in.currentState(),
		StartedAt:    in.requested.UTC().Truncate(time.Second),
		WorkflowID:   in.workflowID,
	}
	if ex := in.exitInfo(); ex != nil {
		j.ExitReason, j.ExitCode = ex.Reason, ex.ExitCode
	}
	if in.mbox != nil {
		j.EventsReceived = in.mbox.Received()
	}
	j.EventsSent = in.sent.snapshot()
	var image, create, boot, init time.Duration // every step is reported, 0 when it has not run
	poolHit := false
	if inst := in.runtimeInstance(); inst != nil {
		info := inst.Info()
		poolHit = info.PoolHit
		j.Image, j.ContainerID, j.ContainerName = info.Image, info.ContainerID, info.ContainerName
		image, create, boot, init = info.ImageDuration, info.CreateDuration, info.BootDuration, info.InitDuration
		if !info.StartedAt.IsZero() {
			j.StartedAt = info.StartedAt.UTC().Truncate(time.Second)
		}
	}
	j.Steps = adminapi.Steps{ImageMS: msPtr(image), CreateMS: msPtr(create), BootMS: msPtr(boot), InitMS: msPtr(init)}
	if poolHit {
		// A prewarmed container: no create step.
		j.Steps.CreateMS, j.Steps.PoolHit = nil, true
	}
	return j
}

// msPtr is d in milliseconds, to the microsecond (a WASM instance starts
// in well under a millisecond).
func msPtr(d time.Duration) *float64 {
	ms := float64(d.Microseconds()) / 1000
	return &ms
}

func (a *Agent) adminList(w http.ResponseWriter, _ *http.Request) {
	out := []adminapi.Instance{}
	for _, in := range a.all() {
		out = append(out, a.describe(in))
	}
	adminapi.WriteJSON(w, http.StatusOK, out)
}

// adminInstance finds the instance named in the path, or writes 404.
func (a *Agent) adminInstance(w http.ResponseWriter, r *http.Request) (*instance, bool) {
	id := r.PathValue("id")
	in, ok := a.lookup(id)
	if !ok {
		adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("no instance %q on this node", id))
	}
	return in, ok
}

func (a *Agent) adminLogs(w http.ResponseWriter, r *http.Request) {
	in, ok := a.adminInstance(w, r)
	if !ok {
		return
	}
	logs := adminapi.Logs{Lines: []adminapi.LogLine{}}
	if inst := in.runtimeInstance(); inst != nil {
		for _, l := range inst.Logs() {
			logs.Lines = append(logs.Lines, adminapi.LogLine{Time: l.Time.UTC(), Stream: l.Stream, Text: l.Text})
		}
	}
	adminapi.WriteJSON(w, http.StatusOK, logs)
}

func readPayload(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAdminBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			adminapi.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("payload larger than %d bytes", MaxAdminBody))
		} else {
			adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("read payload: %w", err))
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
		adminapi.WriteError(w, eventStatus(err), err)
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
		adminapi.WriteError(w, eventStatus(err), err)
		return
	}
	adminapi.WriteJSON(w, http.StatusOK, callResult(rep))
}

func callResult(rep contract.Reply) adminapi.CallResult {
	switch rep.Type {
	case edgelessapi.CallRetType_CALL_RET_REPLY:
		if utf8.Valid(rep.Msg) {
			return adminapi.CallResult{Type: "REPLY", Msg: string(rep.Msg)}
		}
		return adminapi.CallResult{Type: "REPLY", MsgBase64: base64.StdEncoding.EncodeToString(rep.Msg)}
	case edgelessapi.CallRetType_CALL_RET_NO_REPLY:
		return adminapi.CallResult{Type: "NO_REPLY"}
	default:
		return adminapi.CallResult{Type: "ERR"}
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
