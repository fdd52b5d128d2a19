package daemon

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestNode_ResourceProviders drives a node's resources as an orchestrator
// does: announced in UpdateNode, started, patched and stopped over
// ResourceConfiguration (gRPC), with a real HTTP request through the
// ingress into a file-log.
func TestNode_ResourceProviders(t *testing.T) {
	t.Parallel()
	orc := startOrc(t)
	cfg := testConfig(t, false, orc.url)
	n := startNode(t, cfg)
	hostname, _ := os.Hostname()

	upd := orc.waitFor(t, cfg.General.NodeID, 1)[0]
	var got []string
	for _, p := range upd.GetResourceProviders() {
		got = append(got, p.GetProviderId()+" "+p.GetClassType()+" ["+strings.Join(p.GetOutputs(), ",")+"]")
	}
	want := []string{
		hostname + "-http-ingress-1 http-ingress [new_request]",
		hostname + "-http-egress-1 http-egress []",
		hostname + "-file-log-1 file-log []",
	}
	if !slices.Equal(got, want) {
		t.Errorf("UpdateNode.resource_providers = %q, want %q", got, want)
	}

	rc := edgelessapiconnect.NewResourceConfigurationClient(grpcClient(), n.urls.Agent, connect.WithGRPC())
	start := func(class string, conf map[string]string) *edgelessapi.StartComponentResponse {
		t.Helper()
		res, err := rc.Start(t.Context(), &edgelessapi.ResourceInstanceSpecification{ResourceClassType: class, Configuration: conf, WorkflowId: "wf"})
		if err != nil {
			t.Fatalf("Start(%s) = %v", class, err)
		}
		return res
	}
	if e := start("redis", nil).GetResponseError(); e == nil || !strings.Contains(e.GetDetail(), `class type "redis"`) {
		t.Errorf("Start(redis) error = %v, want a ResponseError naming the class", e)
	}
	if e := start("file-log", map[string]string{"filename": "../x.log"}).GetResponseError(); e.GetSummary() != "Invalid resource configuration" || !strings.Contains(e.GetDetail(), "../x.log") {
		t.Errorf("Start(file-log ../x.log) error = %v, want Invalid resource configuration naming the file", e)
	}
	logID := start("file-log", map[string]string{"filename": "events.log"}).GetInstanceId().GetInstanceId()
	ingID := start("http-ingress", map[string]string{"method": "POST", "async": "true"}).GetInstanceId().GetInstanceId()
	if logID.GetNodeId() != cfg.General.NodeID || ingID.GetFunctionId() == "" {
		t.Fatalf("Start ids = %v, %v; want instances of node %s", logID, ingID, cfg.General.NodeID)
	}
	if _, err := rc.Patch(t.Context(), &edgelessapi.PatchRequest{FunctionId: ingID.GetFunctionId(), OutputMapping: map[string]*edgelessapi.InstanceId{"new_request": logID}}); err != nil {
		t.Fatalf("Patch = %v", err)
	}
	if _, err := rc.Patch(t.Context(), &edgelessapi.PatchRequest{FunctionId: "5b1f3a9e-0000-4000-8000-000000000000"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("Patch(unknown) = %v, want NOT_FOUND", err)
	}

	resp, err := http.Post(n.urls.HTTPIngress+"/", "text/plain", strings.NewReader("hello from curl"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "OK" {
		t.Fatalf("POST to the ingress = %d %q, want 200 OK", resp.StatusCode, body)
	}
	path := filepath.Join(cfg.Resources.FileLogDir, "events.log")
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if string(data) == "hello from curl\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want the request body", path, data)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := rc.Stop(t.Context(), &edgelessapi.InstanceIdVariant{InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{InstanceId: ingID}}); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	resp, err = http.Post(n.urls.HTTPIngress+"/", "text/plain", strings.NewReader("late"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST after Stop = %d, want 404", resp.StatusCode)
	}
	if _, err := n.nm.Reset(t.Context(), &emptypb.Empty{}); err != nil {
		t.Fatalf("Reset = %v", err)
	}
	if _, err := rc.Patch(t.Context(), &edgelessapi.PatchRequest{FunctionId: logID.GetFunctionId()}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("Patch after Reset = %v, want NOT_FOUND (Reset stops resources too)", err)
	}
}
