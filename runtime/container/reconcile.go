package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/moby/moby/client"
)

// reconcileParallel bounds concurrent removals; the engine serialises
// much of the work anyway.
const reconcileParallel = 4

// reconcile removes every container labelled with this node's id that the
// runtime does not track, in any state (created, running, paused, exited,
// dead): a node that crashed left them behind.
func (r *Runtime) reconcile(ctx context.Context) error {
	n, err := r.Reconcile(ctx)
	if n > 0 {
		r.log.Info("removed containers left by an earlier run", slog.Int("count", n))
	}
	return err
}

// Reconcile removes the containers labelled with this node's id that belong
// to no live instance, and returns how many it removed. New calls it once;
// a node may call it again at any time.
func (r *Runtime) Reconcile(ctx context.Context) (int, error) {
	if r.docker == nil {
		return 0, nil
	}
	lctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	res, err := r.docker.ContainerList(lctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelNodeID+"="+r.cfg.NodeID),
	})
	if err != nil {
		return 0, fmt.Errorf("reconcile: list containers of node %s: %w", r.cfg.NodeID, err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		removed int
		sem     = make(chan struct{}, reconcileParallel)
	)
	for _, c := range res.Items {
		if c.Labels[LabelNodeID] != r.cfg.NodeID {
			continue // belt and braces: never touch another node's container
		}
		if r.tracksContainer(c.ID, c.Labels[LabelInstanceID]) || (c.Labels[LabelPool] != "" && r.tracksPooled(c.ID)) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, dockerTimeout)
			defer cancel()
			err := removeContainer(rctx, r.docker, c.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			removed++
			r.log.Info("removed leftover container", slog.String("container", c.ID),
				slog.String("instance", c.Labels[LabelInstanceID]), slog.String("state", string(c.State)))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("reconcile: %w", err)
	}
	return removed, nil
}

// tracksContainer reports whether a live instance owns the container.
func (r *Runtime) tracksContainer(cid, functionID string) bool {
	v, ok := r.instances.Load(contract.InstanceID{NodeID: r.cfg.NodeID, FunctionID: functionID})
	if !ok {
		return false
	}
	i := v.(*Instance)
	if i.ctr == nil {
		return true
	}
	// A starting instance may not have its id yet: leave it alone.
	id := i.ctr.containerID()
	return id == cid || id == ""
}
