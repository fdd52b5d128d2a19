package orchestrator

import (
	"context"
	"errors"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// instanceSteps asks the node for an instance's step durations. It is best
// effort: a node without the admin API (e.g. upstream's) reports none.
func (o *Orchestrator) instanceSteps(ctx context.Context, agentURL, functionID string) adminapi.Steps {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	in, err := adminapi.Node{BaseURL: agentURL, HTTP: o.adminHTTP}.Instance(ctx, functionID)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			o.log.Debug("no step durations from node", "agent_url", agentURL, "instance", functionID, "err", err)
		}
		return adminapi.Steps{}
	}
	return in.Steps
}
