// Package loadgen is a load generator that plays orchestrator and peer node
// against one EDGELESS node, over the node's public gRPC APIs only, so that
// it measures any node (this one in-process or as a process, or upstream's).
//
// As orchestrator it makes itself the node's peer (UpdatePeers ADD), starts
// instances of a function image (FunctionInstance.Start) and maps each
// one's "output" alias to its own sink instance (Patch). As peer it casts
// events to the instances (FunctionInvocation.Handle) and serves
// FunctionInvocation itself: the example function re-casts every
// non-command payload to "output", so each event comes back through the
// node to the sink, where the generator checks that it arrives exactly once
// and in order per sender and instance, and measures its latency.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// maxEventBytes bounds the events the sink reads: the generator's own
// payloads are a few dozen bytes.
const maxEventBytes = 64 << 10

// rpcTimeout bounds each control RPC and each send; startTimeout bounds a
// Start (a busy Docker engine can take many seconds to start a container).
const (
	rpcTimeout   = 30 * time.Second
	startTimeout = 2 * time.Minute
)

// maxBackoff is the longest pause of a sender the node pushed back on.
const maxBackoff = 64 * time.Millisecond

// payloadPrefix starts every payload the generator sends; it is not a
// command of the example function, which therefore re-casts it.
const payloadPrefix = "lg"

// Config describes the node under load and the instances to start on it.
type Config struct {
	// AgentURL and InvocationURL are the node's agent and FunctionInvocation
	// endpoints (http://host:port).
	AgentURL, InvocationURL string
	// NodeID is the node's id (the node_id of its instances).
	NodeID string
	// Image is the function's container image (container:<Image>).
	Image string
	// Instances is how many instances to start.
	Instances int
	// ListenAddr is where the sink listens (default 127.0.0.1:0).
	ListenAddr string
	// Logger receives progress (default slog.Default()).
	Logger *slog.Logger
}

// Generator is one load generator and the instances it started.
type Generator struct {
	cfg    Config
	log    *slog.Logger
	peerID string
	sink   *edgelessapi.InstanceId

	// The sink's FunctionInvocation server and the client that sends the
	// events are grpc-go, the cheaper stack (README, benchmarks): the
	// generator shares the node's cores, so its own transport cost is
	// taken from the node's. The agent's control calls are connect-go.
	srv     *grpc.Server
	srvDone chan error
	url     string
	hc      *http.Client
	tr      *http.Transport
	invConn *grpc.ClientConn

	fi  edgelessapiconnect.FunctionInstanceClient
	nm  edgelessapiconnect.NodeManagementClient
	inv edgelessapi.FunctionInvocationClient

	instances []*edgelessapi.InstanceId

	mu      sync.Mutex
	run     *runState                          // the Run in progress, nil between runs
	replies map[uint64]chan *edgelessapi.Event // calls waiting for their reply
	stream  atomic.Uint64
}

// New starts the sink's FunctionInvocation server. The caller must Close
// the generator.
func New(cfg Config) (*Generator, error) {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("load generator: listen on %s: %w", cfg.ListenAddr, err)
	}
	srv, err := transport.Config{}.NewGRPCServer(maxEventBytes)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("load generator: %w", err)
	}
	invConn, err := transport.Config{}.NewGRPCConn(cfg.InvocationURL, maxEventBytes)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("load generator: %w", err)
	}
	hc, tr := transport.NewClient()
	g := &Generator{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "loadgen"),
		peerID:  uuid.NewString(),
		srvDone: make(chan error, 1),
		url:     "http://" + ln.Addr().String(),
		hc:      hc,
		tr:      tr,
		srv:     srv,
		invConn: invConn,
		replies: make(map[uint64]chan *edgelessapi.Event),
	}
	g.sink = &edgelessapi.InstanceId{NodeId: g.peerID, FunctionId: uuid.NewString()}
	opts := transport.ClientOptions(maxEventBytes)
	g.fi = edgelessapiconnect.NewFunctionInstanceClient(g.hc, cfg.AgentURL, opts...)
	g.nm = edgelessapiconnect.NewNodeManagementClient(g.hc, cfg.AgentURL, opts...)
	g.inv = edgelessapi.NewFunctionInvocationClient(invConn)

	edgelessapi.RegisterFunctionInvocationServer(srv, sinkServer{g: g})
	go func() { g.srvDone <- srv.Serve(ln) }()
	return g, nil
}

// PeerID returns the node id the generator plays.
func (g *Generator) PeerID() string { return g.peerID }

// URL returns the sink's FunctionInvocation URL.
func (g *Generator) URL() string { return g.url }

// Instances returns the instances Setup started.
func (g *Generator) Instances() []*edgelessapi.InstanceId { return g.instances }

// Setup makes the generator the node's peer and starts cfg.Instances
// instances, a few at a time, each with its output mapped to the sink.
func (g *Generator) Setup(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	_, err := g.nm.UpdatePeers(rctx, &edgelessapi.UpdatePeersRequest{
		RequestType: edgelessapi.UpdatePeersRequestType_ADD, NodeId: &g.peerID, InvocationUrl: &g.url})
	cancel()
	if err != nil {
		return fmt.Errorf("load generator: UpdatePeers(ADD %s): %w", g.url, err)
	}
	ids := make([]*edgelessapi.InstanceId, g.cfg.Instances)
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(4)
	for i := range ids {
		eg.Go(func() error {
			id, err := g.StartInstance(ectx)
			ids[i] = id
			return err
		})
	}
	err = eg.Wait()
	for _, id := range ids {
		if id != nil {
			g.instances = append(g.instances, id)
		}
	}
	if err != nil {
		return err
	}
	g.log.Info("instances started", "instances", len(ids))
	return nil
}

// StartInstance starts one instance of the image with its output mapped to
// the sink, and returns its id. Close does not stop it unless Setup
// started it.
func (g *Generator) StartInstance(ctx context.Context) (*edgelessapi.InstanceId, error) {
	rctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	res, err := g.fi.Start(rctx, &edgelessapi.SpawnFunctionRequest{
		Code: &edgelessapi.FunctionClassSpecification{Id: "loadgen", FunctionType: "CONTAINER", Version: "0.1",
			Code: "container:" + g.cfg.Image},
		StateSpecification: &edgelessapi.StateSpecification{StateId: uuid.NewString(), Policy: edgelessapi.StatePolicy_NODE_LOCAL},
		WorkflowId:         "loadgen",
	})
	if err != nil {
		return nil, fmt.Errorf("load generator: Start: %w", err)
	}
	if e := res.GetResponseError(); e != nil {
		return nil, fmt.Errorf("load generator: Start: %s: %s", e.GetSummary(), e.GetDetail())
	}
	id := res.GetInstanceId().GetInstanceId()
	if _, err := g.fi.Patch(rctx, &edgelessapi.PatchRequest{FunctionId: id.GetFunctionId(),
		OutputMapping: map[string]*edgelessapi.InstanceId{"output": g.sink}}); err != nil {
		return id, fmt.Errorf("load generator: Patch(%s): %w", id.GetFunctionId(), err)
	}
	return id, nil
}

// StopInstance stops instance id.
func (g *Generator) StopInstance(ctx context.Context, id *edgelessapi.InstanceId) error {
	rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	_, err := g.fi.Stop(rctx, &edgelessapi.InstanceIdVariant{InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{InstanceId: id}})
	if err != nil {
		return fmt.Errorf("load generator: Stop(%s): %w", id.GetFunctionId(), err)
	}
	return nil
}

// Close stops the instances Setup started and the sink's server.
func (g *Generator) Close(ctx context.Context) error {
	var errs []error
	for _, id := range g.instances {
		if err := g.StopInstance(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	g.instances = nil
	transport.StopGRPC(g.srv)
	if err := <-g.srvDone; err != nil {
		errs = append(errs, fmt.Errorf("load generator: sink server: %w", err))
	}
	g.invConn.Close()
	g.tr.CloseIdleConnections()
	return errors.Join(errs...)
}

// sinkServer is the generator's FunctionInvocation server.
type sinkServer struct {
	edgelessapi.UnimplementedFunctionInvocationServer
	g *Generator
}

// Handle records an event that came back from the node.
func (s sinkServer) Handle(_ context.Context, ev *edgelessapi.Event) (*emptypb.Empty, error) {
	if ev.GetSource().GetNodeId() != s.g.cfg.NodeID {
		return nil, status.Errorf(codes.PermissionDenied, "event from node %q, want the node under load %q", ev.GetSource().GetNodeId(), s.g.cfg.NodeID)
	}
	if ev.GetTarget().GetFunctionId() != s.g.sink.GetFunctionId() {
		return nil, status.Errorf(codes.NotFound, "unknown instance %q", ev.GetTarget().GetFunctionId())
	}
	now := time.Now()
	switch ev.GetMsg().GetEventType() {
	case edgelessapi.EventType_CAST:
		s.g.mu.Lock()
		r := s.g.run
		s.g.mu.Unlock()
		if r == nil {
			return nil, status.Error(codes.FailedPrecondition, "no run in progress")
		}
		r.arrive(ev.GetMsg().GetPayload(), now)
	case edgelessapi.EventType_CALL:
		return nil, status.Error(codes.Unimplemented, "the sink answers no calls")
	default: // a reply
		s.g.mu.Lock()
		ch := s.g.replies[ev.GetStreamId()]
		delete(s.g.replies, ev.GetStreamId())
		s.g.mu.Unlock()
		if ch != nil {
			ch <- ev
		}
	}
	return &emptypb.Empty{}, nil
}

// Load is one throughput run: Senders senders cast Events events in all,
// spread round-robin over the instances.
type Load struct {
	// Senders is the number of concurrent senders, each sending one event
	// at a time.
	Senders int
	// Events is the number of events of the whole run.
	Events int
	// Timeout bounds the run, from the first send to the last arrival.
	Timeout time.Duration
	// Hop makes each sender wait for its event to come back before it
	// sends the next, so that latencies are those of an idle path.
	Hop bool
}

// Result is what a Run measured.
type Result struct {
	Sent, Arrived int
	// Refused counts sends the node refused with RESOURCE_EXHAUSTED (each
	// was retried until accepted).
	Refused int
	// Elapsed is from the first send to the last arrival.
	Elapsed time.Duration
	// Latencies are send-to-arrival times, one per arrived event, sorted.
	Latencies []time.Duration
	// Violations describe events that arrived twice, out of order, or
	// malformed (at most 20 are kept; ViolationCount counts all).
	Violations     []string
	ViolationCount int
}

// PerSecond returns the arrivals per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Arrived) / r.Elapsed.Seconds()
}

// Pct returns the p-quantile (0..1) of the latencies.
func (r Result) Pct(p float64) time.Duration { return pct(r.Latencies, p) }

// pct returns the p-quantile of sorted s.
func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(p*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}

// runState is the bookkeeping of one Run.
type runState struct {
	start   time.Time
	senders int
	inst    int
	want    int
	done    chan struct{}
	back    []chan struct{} // per sender, with Load.Hop: its event came back

	mu         sync.Mutex
	next       []uint32 // per (sender, instance): the next sequence number expected
	arrived    int
	last       time.Time
	lat        []time.Duration
	violations []string
	nviol      int
}

func (r *runState) violate(format string, args ...any) {
	r.nviol++
	if len(r.violations) < 20 {
		r.violations = append(r.violations, fmt.Sprintf(format, args...))
	}
}

// arrive checks one returning payload: "lg SENDER INSTANCE SEQ SENTNANOS".
func (r *runState) arrive(payload string, now time.Time) {
	f := strings.Fields(payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	var v [4]int64
	ok := len(f) == 5 && f[0] == payloadPrefix
	for i := 0; ok && i < 4; i++ {
		var err error
		v[i], err = strconv.ParseInt(f[i+1], 10, 64)
		ok = err == nil
	}
	if !ok || v[0] < 0 || v[0] >= int64(r.senders) || v[1] < 0 || v[1] >= int64(r.inst) {
		r.violate("malformed payload %q", payload)
		return
	}
	k := int(v[0])*r.inst + int(v[1])
	if want := int64(r.next[k]); v[2] != want {
		r.violate("sender %d instance %d: seq %d arrived, want %d (duplicate or out of order)", v[0], v[1], v[2], want)
		if v[2] < want {
			return // a duplicate: not counted
		}
	}
	r.next[k] = uint32(v[2] + 1)
	r.arrived++
	r.last = now
	r.lat = append(r.lat, now.Sub(time.Unix(0, v[3])))
	if r.back != nil {
		select {
		case r.back[v[0]] <- struct{}{}:
		default:
		}
	}
	if r.arrived == r.want {
		close(r.done)
	}
}

// Run casts l.Events events from l.Senders senders over the instances and
// waits until all came back or l.Timeout passed. Sender s sends its k-th
// event to instance (s+k) mod Instances; a RESOURCE_EXHAUSTED refusal is
// retried after a pause that doubles up to maxBackoff (it is the node pushing back), any other
// error ends the run. The error is nil when every event arrived exactly
// once and in order.
func (g *Generator) Run(ctx context.Context, l Load) (Result, error) {
	n := len(g.instances)
	if n == 0 || l.Senders <= 0 || l.Events <= 0 {
		return Result{}, errors.New("load generator: Run needs instances, senders and events")
	}
	r := &runState{senders: l.Senders, inst: n, want: l.Events, done: make(chan struct{}),
		next: make([]uint32, l.Senders*n), lat: make([]time.Duration, 0, l.Events)}
	if l.Hop {
		r.back = make([]chan struct{}, l.Senders)
		for i := range r.back {
			r.back[i] = make(chan struct{}, 1)
		}
	}
	g.mu.Lock()
	g.run = r
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.run = nil
		g.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	var sent, refused atomic.Int64
	r.start = time.Now()
	eg, ectx := errgroup.WithContext(ctx)
	for s := range l.Senders {
		count := l.Events / l.Senders
		if s < l.Events%l.Senders {
			count++
		}
		eg.Go(func() error {
			seq := make([]int, n)
			src := &edgelessapi.InstanceId{NodeId: g.peerID, FunctionId: g.sink.GetFunctionId()}
			backoff := time.Millisecond
			for k := range count {
				i := (s + k) % n
				for {
					ev := &edgelessapi.Event{
						Target: g.instances[i], Source: src,
						Msg: &edgelessapi.EventData{EventType: edgelessapi.EventType_CAST,
							Payload: fmt.Sprintf("%s %d %d %d %d", payloadPrefix, s, i, seq[i], time.Now().UnixNano())},
						Created:  &edgelessapi.EventTimestamp{},
						Metadata: &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, 16), SpanId: make([]byte, 8)},
					}
					_, err := g.inv.Handle(ectx, ev)
					if status.Code(err) == codes.ResourceExhausted {
						refused.Add(1)
						select {
						case <-time.After(backoff):
							backoff = min(2*backoff, maxBackoff)
							continue
						case <-ectx.Done():
							return ectx.Err()
						}
					}
					if err != nil {
						return fmt.Errorf("sender %d: cast %d to instance %d: %w", s, seq[i], i, err)
					}
					backoff = time.Millisecond
					break
				}
				seq[i]++
				sent.Add(1)
				if r.back != nil {
					select {
					case <-r.back[s]:
					case <-ectx.Done():
						return fmt.Errorf("sender %d: cast %d to instance %d did not come back: %w", s, seq[i]-1, i, ectx.Err())
					}
				}
			}
			return nil
		})
	}
	err := eg.Wait()
	if err == nil {
		select {
		case <-r.done:
		case <-ctx.Done():
			err = fmt.Errorf("load generator: %w waiting for the events to come back", ctx.Err())
		}
	}
	// A moment for duplicates that would arrive after the last event.
	time.Sleep(50 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Result{Sent: int(sent.Load()), Arrived: r.arrived, Refused: int(refused.Load()),
		Elapsed: r.last.Sub(r.start), Latencies: slices.Clone(r.lat),
		Violations: slices.Clone(r.violations), ViolationCount: r.nviol}
	slices.Sort(res.Latencies)
	if err == nil && res.ViolationCount > 0 {
		err = fmt.Errorf("load generator: %d events arrived twice, out of order or malformed, e.g. %s", res.ViolationCount, res.Violations[0])
	}
	if err == nil && res.Arrived != l.Events {
		err = fmt.Errorf("load generator: %d of %d events arrived", res.Arrived, l.Events)
	}
	return res, err
}

// Call sends msg as a call from the sink to instance id through the node's
// FunctionInvocation, and returns the reply event's payload once it has
// come back to the sink (CALL_RET), with the round trip's duration.
func (g *Generator) Call(ctx context.Context, id *edgelessapi.InstanceId, msg string) (string, time.Duration, error) {
	stream := g.stream.Add(1)
	ch := make(chan *edgelessapi.Event, 1)
	g.mu.Lock()
	g.replies[stream] = ch
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.replies, stream)
		g.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	t0 := time.Now()
	_, err := g.inv.Handle(ctx, &edgelessapi.Event{
		Target: id, Source: g.sink, StreamId: stream,
		Msg:      &edgelessapi.EventData{EventType: edgelessapi.EventType_CALL, Payload: msg},
		Created:  &edgelessapi.EventTimestamp{},
		Metadata: &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, 16), SpanId: make([]byte, 8)},
	})
	if err != nil {
		return "", 0, fmt.Errorf("load generator: call %s: %w", id.GetFunctionId(), err)
	}
	select {
	case ev := <-ch:
		d := time.Since(t0)
		if t := ev.GetMsg().GetEventType(); t != edgelessapi.EventType_CALL_RET {
			return "", d, fmt.Errorf("load generator: call %s: reply %s, want CALL_RET", id.GetFunctionId(), t)
		}
		return ev.GetMsg().GetPayload(), d, nil
	case <-ctx.Done():
		return "", 0, fmt.Errorf("load generator: call %s: no reply: %w", id.GetFunctionId(), ctx.Err())
	}
}
