package adminapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

func TestCallResult_Payload(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      adminapi.CallResult
		want    string
		wantErr bool
	}{
		{adminapi.CallResult{Type: "REPLY", Msg: "hi"}, "hi", false},
		{adminapi.CallResult{Type: "REPLY", MsgBase64: "//4="}, "\xff\xfe", false},
		{adminapi.CallResult{Type: "REPLY", MsgBase64: "not base64!"}, "", true},
	} {
		got, err := tt.in.Payload()
		if string(got) != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%+v.Payload() = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// serve answers every request with status, content type and body.
func serve(t *testing.T, status int, contentType, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestController_Start(t *testing.T) {
	t.Parallel()
	t.Run("done", func(t *testing.T) {
		t.Parallel()
		url := serve(t, 200, "application/x-ndjson", `{"type":"placed","function":"a"}`+"\n"+`{"type":"done","workflow_id":"wf-1"}`+"\n")
		var seen []string
		id, err := adminapi.Controller{BaseURL: url}.Start(t.Context(), []byte("{}"), func(p adminapi.Progress) { seen = append(seen, p.Type) })
		if id != "wf-1" || err != nil || strings.Join(seen, ",") != "placed,done" {
			t.Errorf("Start = %q, %v after %q; want wf-1, nil after placed,done", id, err, seen)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		url := serve(t, 200, "application/x-ndjson", `{"type":"error","error":"no node","detail":"no node is registered"}`+"\n")
		_, err := adminapi.Controller{BaseURL: url}.Start(t.Context(), []byte("{}"), func(adminapi.Progress) {})
		var se *adminapi.StartError
		if !errors.As(err, &se) || se.Detail != "no node is registered" {
			t.Errorf("Start = %v, want a StartError with the detail", err)
		}
	})
	t.Run("upstream controller", func(t *testing.T) {
		t.Parallel()
		url := serve(t, 404, "text/plain", "404 page not found")
		if _, err := (adminapi.Controller{BaseURL: url}).Start(t.Context(), []byte("{}"), func(adminapi.Progress) {}); !errors.Is(err, adminapi.ErrNoAdmin) {
			t.Errorf("Start = %v, want %v", err, adminapi.ErrNoAdmin)
		}
	})
}

func TestNode_ErrorAnswer(t *testing.T) {
	t.Parallel()
	url := serve(t, 404, "application/json", `{"error":"no instance \"x\" on this node"}`)
	_, err := adminapi.Node{BaseURL: url}.Logs(t.Context(), "x")
	if err == nil || !strings.Contains(err.Error(), `404 Not Found: no instance "x" on this node`) {
		t.Errorf("Logs(x) = %v, want the node's error", err)
	}
}
