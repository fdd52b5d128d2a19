package adminguard_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/adminguard"
)

// serve runs the guarded handler on a real socket bound to addr and
// returns its URL, a client of its own and how many requests reached the
// handler.
// Each test uses its own server's client: a parallel test's srv.Close closes the idle
// connections of http.DefaultTransport, which broke requests in flight.
func serve(t *testing.T, addr string) (string, *http.Client, *atomic.Int32) {
	t.Helper()
	var reached atomic.Int32
	h := adminguard.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}), adminguard.JSON)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client(), &reached
}

func TestHandler(t *testing.T) {
	t.Parallel()
	url, client, reached := serve(t, "127.0.0.1:0")
	port := url[strings.LastIndex(url, ":")+1:]
	tests := []struct {
		name    string
		method  string
		header  map[string]string
		host    string
		want    int
		wantMsg string
	}{
		{"json post", "POST", map[string]string{"Content-Type": "application/json; charset=utf-8"}, "", 204, ""},
		{"get", "GET", nil, "", 204, ""},
		{"localhost", "GET", nil, "localhost:" + port, 204, ""},
		{"same origin", "POST", map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:" + port}, "", 204, ""},
		{"text/plain post", "POST", map[string]string{"Content-Type": "text/plain"}, "", 415, `Content-Type \"text/plain\" refused: want application/json`},
		{"form post", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "", 415, "refused"},
		{"no content type", "POST", nil, "", 415, "refused"},
		{"foreign origin", "POST", map[string]string{"Content-Type": "application/json", "Origin": "http://attacker.example"}, "", 403, "cross-origin request refused"},
		{"cross-site fetch", "POST", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, "", 403, "cross-origin request refused"},
		{"rebinding host", "GET", nil, "attacker.example:" + port, 403, `host \"attacker.example:` + port + `\" refused`},
		{"rebinding post", "POST", map[string]string{"Content-Type": "application/json", "Origin": "http://attacker.example:" + port}, "attacker.example:" + port, 403, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reached.Load()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, url+"/admin/v1/x", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.want || !strings.Contains(string(body), tt.wantMsg) {
				t.Errorf("%s = %d %s, want %d %q", tt.name, res.StatusCode, body, tt.want, tt.wantMsg)
			}
			if got := reached.Load() - before; (tt.want == 204) != (got == 1) {
				t.Errorf("handler reached %d times, want %v", got, tt.want == 204)
			}
		})
	}
}

// TestHandler_NonLoopbackAnyHost checks that the Host check applies only to
// loopback listeners: a node bound to a LAN address is reached under any
// name.
func TestHandler_NonLoopbackAnyHost(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIPv4(t)
	url, client, _ := serve(t, net.JoinHostPort(ip, "0"))
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url+"/admin/v1/x", nil)
	req.Host = "node-7.example:1234"
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Errorf("GET with another host on %s = %d, want 204", ip, res.StatusCode)
	}
}

func nonLoopbackIPv4(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}
