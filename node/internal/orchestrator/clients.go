package orchestrator

import (
	"net/http"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// newAgentHTTPClient returns the client for nodes' agent APIs: gRPC over
// plain-text HTTP/2 (h2c), which is what upstream's Rust nodes speak, or
// over TLS with tc's client config.
func newAgentHTTPClient(tc *transport.TLS) *http.Client {
	hc, _, _ := transport.ClientConfig{Config: tc.ClientConfig()}.NewClient() // only server configs are refused
	return hc
}

// newAdminHTTPClient returns the client for nodes' admin JSON APIs: plain
// HTTP, or the agent client's TLS; with the domain's bearer token if set.
func newAdminHTTPClient(tc *transport.TLS, token string) *http.Client {
	hc := transport.NewHTTP1Client()
	if tc.ClientConfig().TLS != nil {
		hc = newAgentHTTPClient(tc)
	}
	return adminapi.WithToken(hc, token)
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
