package orchestrator

import (
	"context"
	"errors"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// exitsWait is how long one long poll of a node's exits waits.
const exitsWait = 25 * time.Second

// exitsRetry is the pause after a failed poll (the node may be busy or
// not serving yet); it doubles with each failure in a row up to
// exitsRetryMax, so that a node that never answers (e.g. upstream's, which
// serves gRPC over HTTP/2 only) costs little.
const (
	exitsRetry    = time.Second
	exitsRetryMax = 30 * time.Second
)

// watchExits long-polls n's admin API for instances that ended on their
// own, so that a crash is handled at once, until ctx is done (the node is
// removed). A node without the admin API (upstream's) is not watched: its
// crashed instances are not restarted.
func (o *Orchestrator) watchExits(ctx context.Context, n *node) {
	c := adminapi.Node{BaseURL: n.agentURL, HTTP: o.adminHTTP}
	var after uint64
	retry := exitsRetry
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, exitsWait+o.cfg.AgentTimeout)
		exits, err := c.Exits(pctx, after, exitsWait)
		cancel()
		switch {
		case errors.Is(err, adminapi.ErrNoNodeAdmin):
			o.log.Info("node has no admin API: its crashed instances will not be restarted", "node", n.id, "agent_url", n.agentURL)
			return
		case err != nil:
			if ctx.Err() == nil {
				o.log.Debug("poll node exits", "node", n.id, "err", err)
			}
			t := time.NewTimer(retry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			retry = min(2*retry, exitsRetryMax)
			continue
		}
		retry = exitsRetry
		for _, ex := range exits {
			after = ex.Seq
			o.instanceExited(n, ex)
		}
	}
}
