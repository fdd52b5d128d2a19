package orchestrator

import (
	"context"
	"errors"
	"slices"
	"strings"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/workflow"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// workflowServer is the WorkflowInstance edge: it maps domain errors to
// the wire.
type workflowServer struct {
	o *Orchestrator
}

var _ edgelessapiconnect.WorkflowInstanceHandler = (*workflowServer)(nil)

func handlerOptions() []connect.HandlerOption {
	return transport.HandlerOptions(transport.ControlMaxBytes)
}

// Start answers failures as upstream's controller does: in
// response_error, not as an RPC error.
func (s *workflowServer) Start(ctx context.Context, req *edgelessapi.SpawnWorkflowRequest) (*edgelessapi.SpawnWorkflowResponse, error) {
	st, err := s.o.StartWorkflow(ctx, req, nil)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, connect.NewError(connect.CodeOf(ctxErr), err)
		}
		summary, detail := describeStartError(err)
		return &edgelessapi.SpawnWorkflowResponse{ResponseError: &edgelessapi.ResponseError{Summary: summary, Detail: &detail}}, nil
	}
	return &edgelessapi.SpawnWorkflowResponse{WorkflowStatus: st}, nil
}

// describeStartError splits a start error into a one-line summary and the
// full detail.
func describeStartError(err error) (summary, detail string) {
	var (
		ve *workflow.ValidationError
		pe *PlacementError
		re *ResourcePlacementError
		se *StartError
	)
	switch {
	case errors.As(err, &ve):
		return "invalid workflow", strings.Join(ve.Problems, "; ")
	case errors.As(err, &pe):
		return "no node can host function " + quote(pe.Function), err.Error()
	case errors.As(err, &re):
		return "no node offers resource " + quote(re.Name) + " (" + re.ClassType + ")", err.Error()
	case errors.As(err, &se):
		return se.kind() + " " + quote(se.Function) + " failed to " + se.Step, err.Error()
	}
	return "workflow start failed", err.Error()
}

func quote(s string) string { return `"` + s + `"` }

func (s *workflowServer) Stop(ctx context.Context, id *edgelessapi.WorkflowId) (*emptypb.Empty, error) {
	if err := s.o.StopWorkflow(ctx, id.GetWorkflowId()); err != nil {
		if errors.Is(err, ErrUnknownWorkflow) {
			return nil, connect.NewError(connect.CodeNotFound, err)
		}
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	return &emptypb.Empty{}, nil
}

func (s *workflowServer) List(context.Context, *emptypb.Empty) (*edgelessapi.WorkflowIdList, error) {
	var ids []string
	for _, r := range s.o.records() {
		ids = append(ids, r.id)
	}
	return &edgelessapi.WorkflowIdList{Identifiers: ids}, nil
}

func (s *workflowServer) Inspect(_ context.Context, id *edgelessapi.WorkflowId) (*edgelessapi.WorkflowInstanceInfo, error) {
	r := s.o.record(id.GetWorkflowId())
	if r == nil {
		return nil, connect.NewError(connect.CodeNotFound, errors.New(ErrUnknownWorkflow.Error()+" "+quote(id.GetWorkflowId())))
	}
	return &edgelessapi.WorkflowInstanceInfo{Request: proto.CloneOf(r.req), Status: r.status(s.o.cfg.DomainID, s.o.funcs(r))}, nil
}

// Domains describes the one domain this orchestrator manages: the sum of its
// ready nodes' capabilities.
func (s *workflowServer) Domains(_ context.Context, d *edgelessapi.DomainId) (*edgelessapi.DomainCapabilitiesList, error) {
	if d.GetDomainId() != "" && d.GetDomainId() != s.o.cfg.DomainID {
		return &edgelessapi.DomainCapabilitiesList{}, nil
	}
	c := &edgelessapi.DomainCapabilities{}
	s.o.mu.Lock()
	for _, n := range s.o.sortedNodesLocked() {
		if n.status != nodeReady {
			continue
		}
		nc := n.caps
		c.NumNodes++
		c.NumCpus += nc.GetNumCpus()
		c.NumCores += nc.GetNumCores()
		c.MemSize += nc.GetMemSize()
		c.DiskTotSpace += nc.GetDiskTotSpace()
		c.NumGpus += nc.GetNumGpus()
		c.MemSizeGpu += nc.GetMemSizeGpu()
		if nc.GetIsTeeRunning() {
			c.NumTee++
		}
		if nc.GetHasTpm() {
			c.NumTpm++
		}
		c.Labels = union(c.Labels, nc.GetLabels())
		c.Runtimes = union(c.Runtimes, nc.GetRuntimes())
		c.ResourceProviders = union(c.ResourceProviders, n.providers)
	}
	s.o.mu.Unlock()
	return &edgelessapi.DomainCapabilitiesList{DomainCapabilities: []*edgelessapi.DomainCapabilitiesEntry{
		{DomainId: s.o.cfg.DomainID, DomainCapabilities: c},
	}}, nil
}

func union(a, b []string) []string {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	slices.Sort(a)
	return a
}

func (s *workflowServer) Migrate(context.Context, *edgelessapi.MigrateWorkflowRequest) (*edgelessapi.SpawnWorkflowResponse, error) {
	return nil, connect.NewError(connect.CodeUnimplemented,
		errors.New("migrate: this orchestrator manages a single domain, there is nowhere to migrate to"))
}

// records returns the running workflows, oldest first.
func (o *Orchestrator) records() []*workflowRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	rs := make([]*workflowRecord, 0, len(o.workflows))
	for _, r := range o.workflows {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *workflowRecord) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return rs
}

// record returns one running workflow, or nil.
func (o *Orchestrator) record(id string) *workflowRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.workflows[id]
}
