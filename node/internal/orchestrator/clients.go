package orchestrator

import (
	"net/http"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// newAgentHTTPClient returns the client for nodes' agent APIs: gRPC over
// plain-text HTTP/2 (h2c), which is what upstream's Rust nodes speak.
func newAgentHTTPClient() *http.Client {
	hc, _ := transport.NewClient()
	return hc
}

// agentClient holds the agent services of one node.
type agentClient struct {
	fi edgelessapiconnect.FunctionInstanceClient
	nm edgelessapiconnect.NodeManagementClient
	rc edgelessapiconnect.ResourceConfigurationClient
}

func newAgentClient(hc *http.Client, agentURL string) agentClient {
	opts := transport.ClientOptions(transport.ControlMaxBytes)
	return agentClient{
		fi: edgelessapiconnect.NewFunctionInstanceClient(hc, agentURL, opts...),
		nm: edgelessapiconnect.NewNodeManagementClient(hc, agentURL, opts...),
		rc: edgelessapiconnect.NewResourceConfigurationClient(hc, agentURL, opts...),
	}
}
