package httpingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/node/internal/resources/edgelesshttp"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/google/uuid"
)

// fn is a function instance registered in the data plane: it answers each
// call with a function of the request, and records casts.
type fn struct {
	answer func(ctx context.Context, req edgelesshttp.Request) (contract.Reply, error)
	mu     sync.Mutex
	casts  []string
}

func (f *fn) Cast(_ context.Context, _ contract.InstanceID, msg []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.casts = append(f.casts, string(msg))
	return nil
}

func (f *fn) Call(ctx context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
	req, err := edgelesshttp.DecodeRequest(msg)
	if err != nil {
		return contract.Reply{}, err
	}
	return f.answer(ctx, req)
}

func reply(r edgelesshttp.Response) (contract.Reply, error) {
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: edgelesshttp.EncodeResponse(r)}, nil
}

// echo answers 201 with the request it got, as JSON, and a header.
func echo(_ context.Context, req edgelesshttp.Request) (contract.Reply, error) {
	b, _ := json.Marshal(req)
	return reply(edgelesshttp.Response{Status: 201, Headers: map[string]string{"x-fn": "echo", "bad\nname": "x"}, Body: b})
}

type env struct {
	m    *resources.Manager
	dp   *dataplane.Dataplane
	p    *Provider
	base string
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dp := dataplane.New(dataplane.Config{NodeID: uuid.NewString(), CallTimeout: 20 * time.Second})
	m, err := resources.NewManager(dp, nil, resources.Named{ID: "http-ingress-1", Provider: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		dp.Close()
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return &env{m: m, dp: dp, p: p, base: "http://" + ln.Addr().String()}
}

// wire starts an ingress with conf and a function f, and maps new_request.
func (e *env) wire(t *testing.T, conf map[string]string, f *fn) contract.InstanceID {
	t.Helper()
	fnID := contract.InstanceID{NodeID: e.dp.NodeID(), FunctionID: uuid.NewString()}
	e.dp.Register(fnID).Attach(f)
	id, err := e.m.Start(t.Context(), resources.Spec{ClassType: ClassType, Configuration: conf, WorkflowID: "wf-1"})
	if err != nil {
		t.Fatalf("Start(%v) = %v", conf, err)
	}
	if err := e.m.Patch(id.FunctionID, map[string]contract.InstanceID{OutputNewRequest: fnID}); err != nil {
		t.Fatalf("Patch = %v", err)
	}
	return id
}

func do(t *testing.T, method, url, host, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("X-Client", "test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestIngress_RequestBecomesCallAndReplyBecomesResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.wire(t, map[string]string{KeyHost: "demo.local", KeyMethod: "POST,GET"}, &fn{answer: echo})

	status, h, body := do(t, "POST", e.base+"/hello/x?y=1", "demo.local", "ping")
	if status != 201 || h.Get("X-Fn") != "echo" {
		t.Fatalf("POST = %d %v %q, want 201 with x-fn: echo", status, h, body)
	}
	var got edgelesshttp.Request
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Method != "Post" || got.Protocol != "Unknown" || got.Host != "demo.local" || got.Path != "/hello/x?y=1" ||
		string(got.Body) != "ping" || got.Headers["x-client"] != "test" || got.Headers["host"] != "demo.local" {
		t.Errorf("the function got %+v, want upstream's encoding of the request", got)
	}

	for _, tt := range []struct {
		name, method, host string
		want               int
	}{
		{"unknown host", "POST", "other.local", http.StatusNotFound},
		{"method not claimed", "PUT", "demo.local", http.StatusNotFound},
		{"method upstream cannot encode", "OPTIONS", "demo.local", http.StatusMethodNotAllowed},
	} {
		if status, _, body := do(t, tt.method, e.base+"/", tt.host, ""); status != tt.want {
			t.Errorf("%s: %s = %d %q, want %d", tt.name, tt.method, status, body, tt.want)
		}
	}
}

func TestIngress_FailuresAnswerInsteadOfHanging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{RequestTimeout: 300 * time.Millisecond, MaxBodyBytes: 1000})
	slow := &fn{answer: func(ctx context.Context, _ edgelesshttp.Request) (contract.Reply, error) {
		<-ctx.Done()
		return contract.Reply{}, ctx.Err()
	}}
	e.wire(t, map[string]string{KeyHost: "slow"}, slow)
	e.wire(t, map[string]string{KeyHost: "err"}, &fn{answer: func(context.Context, edgelesshttp.Request) (contract.Reply, error) {
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}, nil
	}})
	e.wire(t, map[string]string{KeyHost: "garbage"}, &fn{answer: func(context.Context, edgelesshttp.Request) (contract.Reply, error) {
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("hello")}, nil
	}})
	gone := e.wire(t, map[string]string{KeyHost: "gone"}, &fn{answer: echo})
	e.dp.Unregister(e.m.Outputs(gone.FunctionID)[OutputNewRequest])

	for _, tt := range []struct {
		host, body string
		want       int
		wantBody   string
	}{
		{"slow", "", http.StatusGatewayTimeout, "Gateway Timeout"},
		{"err", "", http.StatusBadGateway, "ERR"},
		{"garbage", "", http.StatusBadGateway, "EdgelessHTTPResponse"},
		{"gone", "", http.StatusServiceUnavailable, "Service Unavailable"},
		{"slow", strings.Repeat("x", 1001), http.StatusRequestEntityTooLarge, "larger than 1000 bytes"},
	} {
		if status, _, body := do(t, "POST", e.base+"/", tt.host, tt.body); status != tt.want || !strings.Contains(body, tt.wantBody) {
			t.Errorf("host %s: POST = %d %q, want %d with %q", tt.host, status, body, tt.want, tt.wantBody)
		}
	}
}

func TestIngress_AsyncCastsTheBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	plain, b64 := &fn{answer: echo}, &fn{answer: echo}
	e.wire(t, map[string]string{KeyHost: "plain", KeyAsync: "true"}, plain)
	e.wire(t, map[string]string{KeyHost: "b64", KeyAsync: "TRUE", KeyEncodeBase64: "true"}, b64)

	if status, _, body := do(t, "POST", e.base+"/", "plain", "event-1"); status != 200 || body != "OK" {
		t.Errorf("async POST = %d %q, want 200 OK", status, body)
	}
	if status, _, body := do(t, "POST", e.base+"/", "plain", "\xff"); status != http.StatusBadRequest {
		t.Errorf("async POST of non-UTF-8 = %d %q, want 400", status, body)
	}
	if status, _, _ := do(t, "POST", e.base+"/", "b64", "\xff"); status != 200 {
		t.Errorf("async base64 POST = %d, want 200", status)
	}
	waitCasts := func(f *fn, want string) {
		t.Helper()
		for range 200 {
			f.mu.Lock()
			got := strings.Join(f.casts, "|")
			f.mu.Unlock()
			if got == want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		t.Errorf("casts = %q, want %q", f.casts, want)
	}
	waitCasts(plain, "event-1")
	waitCasts(b64, "/w==")
}

func TestIngress_WorkflowIDAndStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	id := e.wire(t, map[string]string{KeyWorkflowID: "true"}, &fn{answer: echo})
	if status, _, _ := do(t, "GET", e.base+"/x", "", ""); status != http.StatusNotFound {
		t.Errorf("GET without wf_id = %d, want 404", status)
	}
	if status, _, _ := do(t, "GET", e.base+"/x?wf_id=wf-1", "", ""); status != 201 {
		t.Errorf("GET with wf_id = %d, want 201", status)
	}
	e.m.Stop(id.FunctionID)
	if status, _, _ := do(t, "GET", e.base+"/x?wf_id=wf-1", "", ""); status != http.StatusNotFound {
		t.Errorf("GET after Stop = %d, want 404", status)
	}
}

func TestIngress_RefusesBadConfigurationAndPatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	_, err := e.m.Start(t.Context(), resources.Spec{ClassType: ClassType, Configuration: map[string]string{KeyMethod: "GET,FETCH"}})
	if !errors.Is(err, resources.ErrConfiguration) || !strings.Contains(err.Error(), "'FETCH'") {
		t.Errorf("Start(method FETCH) = %v, want an ErrConfiguration naming FETCH", err)
	}
	id, err := e.m.Start(t.Context(), resources.Spec{ClassType: ClassType})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Patch(id.FunctionID, map[string]contract.InstanceID{"other": id}); err == nil || !strings.Contains(err.Error(), "new_request") {
		t.Errorf("Patch without new_request = %v, want an error naming new_request", err)
	}
	if status, _, _ := do(t, "GET", e.base+"/", "", ""); status != http.StatusNotFound {
		t.Errorf("GET to an unpatched ingress = %d, want 404", status)
	}
}

func TestIngress_200ConcurrentRequestsAllAnswered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.wire(t, map[string]string{}, &fn{answer: func(_ context.Context, req edgelesshttp.Request) (contract.Reply, error) {
		return reply(edgelesshttp.Response{Status: 200, Body: append([]byte("re:"), req.Body...)})
	}})
	const n = 200
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			want := fmt.Sprintf("re:%d", i)
			resp, err := client.Post(e.base+"/", "text/plain", strings.NewReader(fmt.Sprint(i)))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != want {
				errs <- fmt.Errorf("request %d = %d %q, want 200 %q", i, resp.StatusCode, b, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
