package httpegress

import (
	"errors"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/node/internal/resources/edgelesshttp"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/google/uuid"
)

// start returns a data plane with one http-egress instance, and a caller id.
func start(t *testing.T, cfg Config) (*dataplane.Dataplane, contract.InstanceID, contract.InstanceID) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dp := dataplane.New(dataplane.Config{NodeID: uuid.NewString(), CallTimeout: 20 * time.Second})
	m, err := resources.NewManager(dp, nil, resources.Named{ID: "http-egress-1", Provider: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); dp.Close() })
	id, err := m.Start(t.Context(), resources.Spec{ClassType: ClassType})
	if err != nil {
		t.Fatal(err)
	}
	return dp, id, contract.InstanceID{NodeID: dp.NodeID(), FunctionID: uuid.NewString()}
}

func server(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-Query", r.URL.RawQuery)
			w.Header().Set("X-Token", r.Header.Get("X-Token"))
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write(append([]byte("got:"), b...))
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 2000)))
		case "/redirect":
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func request(host, method, path, body string) []byte {
	return edgelesshttp.EncodeRequest(edgelesshttp.Request{
		Method: method, Protocol: edgelesshttp.ProtocolHTTP, Host: host, Path: path,
		Body: edgelesshttp.Bytes(body), Headers: map[string]string{"x-token": "t1"},
	})
}

func TestEgress_CallAnswersUpstreamResponse(t *testing.T) {
	t.Parallel()
	srv := server(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	dp, id, caller := start(t, Config{})
	r, err := dp.Call(t.Context(), caller, id, request(host, "Put", "/echo?a=b", "payload"))
	if err != nil {
		t.Fatalf("Call = %v", err)
	}
	resp, err := edgelesshttp.DecodeResponse(r.Msg)
	if err != nil {
		t.Fatalf("reply %q: %v", r.Msg, err)
	}
	if resp.Status != http.StatusTeapot || string(resp.Body) != "got:payload" {
		t.Errorf("response = %d %q, want 418 \"got:payload\"", resp.Status, resp.Body)
	}
	for k, want := range map[string]string{"x-method": "PUT", "x-query": "a=b", "x-token": "t1"} {
		if got := resp.Headers[k]; got != want {
			t.Errorf("response header %q = %q, want %q (headers %v)", k, got, want, resp.Headers)
		}
	}
}

func TestEgress_FailuresAnswerERR(t *testing.T) {
	t.Parallel()
	srv := server(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	dp, id, caller := start(t, Config{Timeout: 300 * time.Millisecond, MaxResponseBytes: 1000})
	for _, tt := range []struct {
		name string
		msg  []byte
	}{
		{"timeout", request(host, "Get", "/slow", "")},
		{"oversized answer", request(host, "Get", "/big", "")},
		{"not a request", []byte(`{"hello":1}`)},
		{"path not a path", request(host, "Get", "x@evil/", "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dp.Call(t.Context(), caller, id, tt.msg)
			if err != nil || r.Type != edgelessapi.CallRetType_CALL_RET_ERR {
				t.Fatalf("Call = %v, %v; want CALL_RET_ERR", r, err)
			}
		})
	}
	// The reason reaches the node's log; the provider's Do says it too.
	p, _ := New(Config{Timeout: 300 * time.Millisecond, MaxResponseBytes: 1000})
	for path, want := range map[string]string{"/slow": "Client.Timeout", "/big": "larger than 1000 bytes"} {
		if _, err := p.Do(t.Context(), edgelesshttp.Request{Method: "Get", Protocol: "HTTP", Host: host, Path: path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Do(%s) = %v, want an error containing %q", path, err, want)
		}
	}
}

func TestEgress_AllowList(t *testing.T) {
	t.Parallel()
	srv := server(t)
	u, _ := url.Parse(srv.URL)
	p, err := New(Config{AllowedHosts: []string{u.Host}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := p.Do(t.Context(), edgelesshttp.Request{Method: "Get", Protocol: "HTTP", Host: u.Host, Path: "/echo"}); err != nil || resp.Status != http.StatusTeapot {
		t.Errorf("Do(allowed) = %v, %v; want 418", resp.Status, err)
	}
	for _, tt := range []struct{ host, path string }{
		{"localhost:" + u.Port(), "/echo"}, // same server, other name
		{u.Hostname() + ":1", "/echo"},     // other port
		{u.Host, "/redirect"},              // redirect to another host
	} {
		_, err := p.Do(t.Context(), edgelesshttp.Request{Method: "Get", Protocol: "HTTP", Host: tt.host, Path: tt.path})
		if !errors.Is(err, ErrHostNotAllowed) {
			t.Errorf("Do(%s%s) = %v, want ErrHostNotAllowed", tt.host, tt.path, err)
		}
	}
	if _, err := New(Config{AllowedHosts: []string{"http://x/"}}); err == nil {
		t.Errorf("New(allowed host http://x/) = nil error, want one")
	}
	byName, _ := New(Config{AllowedHosts: []string{strings.ToUpper(u.Hostname())}})
	if _, err := byName.Do(t.Context(), edgelesshttp.Request{Method: "Get", Protocol: "HTTP", Host: u.Host, Path: "/echo"}); err != nil {
		t.Errorf("Do with a name-only entry = %v, want any port allowed", err)
	}
}
