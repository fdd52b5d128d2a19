package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/moby/moby/client"
)

// benchWorkflow is an http-ingress whose requests go to one container
// function (web, echo=true) that answers at once.
var benchWorkflow = `{
  "functions": [
    { "name": "web",
      "class_specification": { "id": "web", "function_type": "CONTAINER", "version": "0.1",
        "code": "container:` + ExampleTag("web") + `", "outputs": [] },
      "output_mapping": {}, "annotations": { "init-payload": "echo=true" } }
  ],
  "resources": [
    { "name": "http-in", "class_type": "http-ingress", "output_mapping": { "new_request": "web" },
      "configurations": {} }
  ],
  "annotations": {}
}`

// BenchmarkHTTPIngress measures an HTTP request through the node's
// http-ingress to a container function and back, and reports it as a ratio
// to a floor measured in the same run, interleaved: a bare net/http round
// trip (to an httptest server that answers at once) plus one raw gRPC
// GuestAPIFunction.Call to the same container with the same payload.
func BenchmarkHTTPIngress(b *testing.B) {
	exampleImages(b)
	box, _ := startBoxConfig(b)
	c, err := newController(box.ControllerURL, security{})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.json")
	if err := os.WriteFile(path, []byte(benchWorkflow), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id, err := startWorkflow(ctx, c, path, io.Discard, io.Discard, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stopWorkflow(context.Background(), c, id, io.Discard) })
	f, err := c.admin.Function(ctx, id, "web")
	if err != nil {
		b.Fatal(err)
	}

	// The container's own GuestAPIFunction endpoint, on the bridge.
	dc := containertest.RequireDocker(b)
	ins, err := dc.ContainerInspect(ctx, "edgeless-"+f.FunctionID, client.ContainerInspectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ep := "http://" + ins.Container.NetworkSettings.Networks["bridge"].IPAddress.String() + ":" + strconv.Itoa(container.DefaultFunctionPort)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	fnClient := edgelessapiconnect.NewGuestAPIFunctionClient(&http.Client{Transport: &http.Transport{Protocols: &p}}, ep, connect.WithGRPC())

	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	b.Cleanup(bare.Close)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	payload := []byte("ping")
	reqJSON := []byte(`{"method":"Post","protocol":"Unknown","host":"h","path":"/","body":[112,105,110,103],"headers":{}}`)
	post := func(url string) {
		resp, err := hc.Post(url, "text/plain", bytes.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ping" {
			b.Fatalf("POST %s = %d %q, want 200 ping", url, resp.StatusCode, body)
		}
	}
	call := func() {
		res, err := fnClient.Call(ctx, &edgelessapi.InputEventData{Src: &edgelessapi.InstanceId{NodeId: box.NodeID, FunctionId: f.FunctionID}, Msg: reqJSON})
		if err != nil || res.GetType() != edgelessapi.CallRetType_CALL_RET_REPLY {
			b.Fatalf("raw Call = %v, %v", res, err)
		}
	}
	timed := func(fn func()) time.Duration {
		t0 := time.Now()
		fn()
		return time.Since(t0)
	}
	// Warm up every path (connections, the container's first calls).
	for range 50 {
		post(box.Node.HTTPIngress + "/")
		post(bare.URL)
		call()
	}
	var ingress, http1, grpc1 []time.Duration
	for b.Loop() {
		for range 100 {
			ingress = append(ingress, timed(func() { post(box.Node.HTTPIngress + "/") }))
			http1 = append(http1, timed(func() { post(bare.URL) }))
			grpc1 = append(grpc1, timed(call))
		}
	}
	pct := func(s []time.Duration, p float64) time.Duration {
		s = slices.Clone(s)
		slices.Sort(s)
		return s[int(float64(len(s)-1)*p)]
	}
	us := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) }
	floor50 := pct(http1, .5) + pct(grpc1, .5)
	floor90 := pct(http1, .9) + pct(grpc1, .9)
	b.ReportMetric(float64(pct(ingress, .5))/float64(floor50), "ratio-p50")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nhttp-ingress -> container (%d runs)\tp50 µs\tp90 µs\tratio p50\tratio p90\t\n", len(ingress))
	fmt.Fprintf(w, "through the ingress\t%s\t%s\t%.2f\t%.2f\t\n", us(pct(ingress, .5)), us(pct(ingress, .9)),
		float64(pct(ingress, .5))/float64(floor50), float64(pct(ingress, .9))/float64(floor90))
	fmt.Fprintf(w, "floor: bare net/http + raw gRPC call\t%s\t%s\t1.00\t1.00\t\n", us(floor50), us(floor90))
	fmt.Fprintf(w, "  bare net/http round trip\t%s\t%s\t\t\t\n", us(pct(http1, .5)), us(pct(http1, .9)))
	fmt.Fprintf(w, "  raw gRPC Call to the container\t%s\t%s\t\t\t\n", us(pct(grpc1, .5)), us(pct(grpc1, .9)))
	w.Flush()
}
