package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/google/uuid"
)

// Named is a provider with its provider id (e.g. "host-http-ingress-1").
type Named struct {
	ID       string
	Provider Provider
}

// ErrNoProvider is returned by Start for a class type no provider offers.
var ErrNoProvider = errors.New("no resource provider for this class type")

// ErrUnknownInstance is returned by Patch for an instance this node does not
// host.
var ErrUnknownInstance = errors.New("no such resource instance on this node")

// Manager owns the node's providers and their instances.
type Manager struct {
	dp        *dataplane.Dataplane
	log       *slog.Logger
	providers []Named

	mu        sync.Mutex // guards instances and closed; never held across a provider call
	instances map[string]*entry
	closed    bool
}

type entry struct {
	in         *Instance
	p          Provider
	providerID string
}

// NewManager returns a Manager of providers (in configuration order) whose
// instances join dp. Provider ids must be unique and not empty.
func NewManager(dp *dataplane.Dataplane, log *slog.Logger, providers ...Named) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	seen := map[string]bool{}
	for _, p := range providers {
		if p.ID == "" {
			return nil, fmt.Errorf("resource provider of class %q: empty provider id", p.Provider.ClassType())
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("resource provider id %q used twice", p.ID)
		}
		seen[p.ID] = true
	}
	return &Manager{dp: dp, log: log.With("component", "resources"), providers: providers, instances: map[string]*entry{}}, nil
}

// Specs returns the resource_providers the node announces, in
// configuration order.
func (m *Manager) Specs() []*edgelessapi.ResourceProviderSpecification {
	out := make([]*edgelessapi.ResourceProviderSpecification, 0, len(m.providers))
	for _, p := range m.providers {
		out = append(out, &edgelessapi.ResourceProviderSpecification{
			ProviderId: p.ID,
			ClassType:  p.Provider.ClassType(),
			Outputs:    slices.Clone(p.Provider.Outputs()),
		})
	}
	return out
}

// Start creates an instance of spec.ClassType with the first provider that
// offers it, registered in the data plane under a new id on this node.
func (m *Manager) Start(ctx context.Context, spec Spec) (contract.InstanceID, error) {
	var named *Named
	for i := range m.providers {
		if m.providers[i].Provider.ClassType() == spec.ClassType {
			named = &m.providers[i]
			break
		}
	}
	if named == nil {
		return contract.InstanceID{}, fmt.Errorf("class type %q (this node offers %s): %w", spec.ClassType, m.offered(), ErrNoProvider)
	}
	id := contract.InstanceID{NodeID: m.dp.NodeID(), FunctionID: uuid.NewString()}
	spec.Configuration = maps.Clone(spec.Configuration)
	in := &Instance{ID: id, Spec: spec, Mailbox: m.dp.Register(id)}
	recv, err := named.Provider.Start(ctx, in)
	if err != nil {
		m.dp.Unregister(id)
		return contract.InstanceID{}, fmt.Errorf("%s resource (provider %s): %w", spec.ClassType, named.ID, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.dp.Unregister(id)
		named.Provider.Stop(in)
		return contract.InstanceID{}, errors.New("the node is shutting down")
	}
	m.instances[id.FunctionID] = &entry{in: in, p: named.Provider, providerID: named.ID}
	m.mu.Unlock()
	if recv != nil {
		in.Mailbox.Attach(recv)
	}
	m.log.Info("resource started", "instance", id.FunctionID, "class_type", spec.ClassType, "provider", named.ID, "workflow", spec.WorkflowID)
	return id, nil
}

func (m *Manager) offered() string {
	if len(m.providers) == 0 {
		return "no resource providers"
	}
	var cs []string
	for _, p := range m.providers {
		if c := p.Provider.ClassType(); !slices.Contains(cs, c) {
			cs = append(cs, fmt.Sprintf("%q", c))
		}
	}
	return "class types " + fmt.Sprint(cs)
}

// Has reports whether functionID is a resource instance of this node.
func (m *Manager) Has(functionID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.instances[functionID]
	return ok
}

// Patch replaces the output mapping of a resource instance.
func (m *Manager) Patch(functionID string, outputs map[string]contract.InstanceID) error {
	m.mu.Lock()
	e, ok := m.instances[functionID]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("patch %s: %w", functionID, ErrUnknownInstance)
	}
	e.in.Mailbox.SetAliases(outputs)
	if err := e.p.Patched(e.in, outputs); err != nil {
		return fmt.Errorf("patch %s resource %s: %w", e.in.Spec.ClassType, functionID, err)
	}
	m.log.Info("resource patched", "instance", functionID, "outputs", len(outputs))
	return nil
}

// Stop removes a resource instance; stopping an unknown one succeeds
// (reported false).
func (m *Manager) Stop(functionID string) bool {
	m.mu.Lock()
	e, ok := m.instances[functionID]
	delete(m.instances, functionID)
	m.mu.Unlock()
	if !ok {
		return false
	}
	m.dp.Unregister(e.in.ID)
	e.p.Stop(e.in)
	m.log.Info("resource stopped", "instance", functionID, "class_type", e.in.Spec.ClassType)
	return true
}

// StopAll stops every resource instance (NodeManagement.Reset).
func (m *Manager) StopAll() int {
	m.mu.Lock()
	ids := slices.Collect(maps.Keys(m.instances))
	m.mu.Unlock()
	for _, id := range ids {
		m.Stop(id)
	}
	return len(ids)
}

// Close refuses new instances and stops every instance.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.StopAll()
}

// Outputs returns the alias table of a resource instance (nil if unknown).
func (m *Manager) Outputs(functionID string) map[string]contract.InstanceID {
	m.mu.Lock()
	e, ok := m.instances[functionID]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	return e.in.Mailbox.Aliases()
}
