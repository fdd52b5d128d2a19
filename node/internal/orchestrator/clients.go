package orchestrator

import (
	"math"
	"net/http"

	"connectrpc.com/connect"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

// MaxMessageBytes is the largest gRPC message the orchestrator reads.
// Upstream has no limit; this one only guards against a broken peer.
const MaxMessageBytes = math.MaxInt32

// newAgentHTTPClient returns the client for nodes' agent APIs: gRPC over
// plain-text HTTP/2 (h2c), which is what upstream's Rust nodes speak.
func newAgentHTTPClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// agentClient holds the two agent services of one node.
type agentClient struct {
	fi edgelessapiconnect.FunctionInstanceClient
	nm edgelessapiconnect.NodeManagementClient
}

func newAgentClient(hc *http.Client, agentURL string) agentClient {
	opts := []connect.ClientOption{connect.WithGRPC(), connect.WithReadMaxBytes(MaxMessageBytes)}
	return agentClient{
		fi: edgelessapiconnect.NewFunctionInstanceClient(hc, agentURL, opts...),
		nm: edgelessapiconnect.NewNodeManagementClient(hc, agentURL, opts...),
	}
}
