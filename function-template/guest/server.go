package guest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

// Server runs one Function as a GuestAPIFunction service and keeps its
// life-cycle state. Create it with NewServer and call Serve or
// ListenAndServe; or register it on a grpc-go server of your own
// (RegisterGRPC), or mount Handler on an HTTP server of your own.
type Server struct {
	fn   Function
	opts Options
	// sockLn, if set, serves the node over its function socket besides
	// the listener of Serve (ListenAndServe sets it).
	sockLn net.Listener
	log    *slog.Logger
	// slots bounds the Cast and Call handlers running at once.
	slots chan struct{}
	// lifecycle serialises Boot, Init, Stop and shutdown (a lock that
	// honours contexts).
	lifecycle chan struct{}

	mu       sync.Mutex // guards the fields below
	state    State
	host     *Host
	bootData bootData
	// secret is the SecretHeader value of the Boot that started this life
	// ("" when the node sent none); every later request must carry it.
	secret string
	// life is cancelled when the instance stops: it cancels the events in
	// flight that outlive the drain grace.
	life       context.Context
	cancelLife context.CancelFunc
	inflight   int
	// idle, when not nil, is closed as soon as inflight drops to zero.
	idle chan struct{}
}

type bootData struct {
	endpoint string
	id       InstanceID
}

var _ edgelessapiconnect.GuestAPIFunctionHandler = (*rpcHandler)(nil)

// NewServer returns a Server for fn, in state PreBooted.
func NewServer(fn Function, opts Options) *Server {
	opts = opts.withDefaults()
	life, cancel := context.WithCancel(context.Background())
	cancel() // no instance life before Init
	return &Server{
		fn:         fn,
		opts:       opts,
		log:        opts.Logger,
		slots:      make(chan struct{}, opts.MaxConcurrency),
		lifecycle:  make(chan struct{}, 1),
		life:       life,
		cancelLife: cancel,
	}
}

// Handler returns the path and handler of the GuestAPIFunction service
// (connect-go), to mount on an http.ServeMux. It serves gRPC, gRPC-Web and
// Connect with the limits of Options; Serve uses it for HTTP/1.1 and
// answers gRPC over h2c with grpc-go (RegisterGRPC), whose writer batches
// a response's frames where net/http's HTTP/2 server flushes each.
func (s *Server) Handler() (string, http.Handler) {
	return edgelessapiconnect.NewGuestAPIFunctionHandler(&rpcHandler{s: s},
		connect.WithReadMaxBytes(s.opts.MaxPayloadBytes),
		connect.WithSendMaxBytes(s.opts.MaxPayloadBytes),
		connect.WithCompressMinBytes(compressMinBytes),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
			s.log.ErrorContext(ctx, "panic in guest API handler", "procedure", spec.Procedure, "panic", p, "stack", string(debug.Stack()))
			return connect.NewError(connect.CodeInternal, fmt.Errorf("panic in %s", spec.Procedure))
		}),
	)
}

// State returns the current life-cycle state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// lock takes the life-cycle lock, or fails when ctx ends first.
func (s *Server) lock(ctx context.Context) error {
	select {
	case s.lifecycle <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) unlock() { <-s.lifecycle }

func (s *Server) wrongState(cmd string, want ...State) error {
	return &WrongStateError{Command: cmd, State: s.State(), Want: want}
}

// boot implements Boot.
func (s *Server) boot(ctx context.Context, req *edgelessapi.BootData, secret string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	s.mu.Lock()
	st, prev, want := s.state, s.bootData, s.secret
	s.mu.Unlock()
	if st != PreBooted && st != Stopped && !secretMatches(secret, want) {
		// Only a new life (after Stop, which needed the secret) may
		// bring a new secret.
		return errWrongSecret
	}
	data := bootData{endpoint: req.GetGuestApiHostEndpoint(), id: instanceIDFrom(req.GetInstanceId())}
	if st == Booted && data == prev && req.GetInstanceId() != nil {
		s.log.InfoContext(ctx, "repeated Boot with the same data: already booted", "instance", data.id)
		return nil
	}
	if st != PreBooted && st != Stopped {
		return s.wrongState("Boot", PreBooted, Stopped)
	}
	if req.GetInstanceId() == nil {
		return &invalidArgumentError{errors.New("BootData.instance_id is missing")}
	}
	if err := data.id.validate(); err != nil {
		return &invalidArgumentError{fmt.Errorf("BootData.instance_id: %w", err)}
	}
	var baseURL, network, addr string
	var err error
	if strings.HasPrefix(data.endpoint, "unix:") {
		network, baseURL = "unix", data.endpoint
		addr, err = hostSocketEndpoint(data.endpoint, s.opts.GuestSockets)
	} else {
		network = "tcp"
		baseURL, addr, err = ParseHostEndpoint(data.endpoint)
	}
	if err != nil {
		return &invalidArgumentError{err}
	}
	host, err := dialHost(ctx, baseURL, network, addr, data.id, s.opts.HostTimeout, s.opts.MaxPayloadBytes)
	if err != nil {
		return &unavailableError{err}
	}
	s.mu.Lock()
	old := s.host
	s.host, s.bootData, s.state, s.secret = host, data, Booted, secret
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	s.log.InfoContext(ctx, "booted", "instance", data.id, "host", baseURL)
	return nil
}

// init implements Init.
func (s *Server) init(ctx context.Context, req *edgelessapi.FunctionInstanceInit) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	s.mu.Lock()
	st, host := s.state, s.host
	s.mu.Unlock()
	if st != Booted {
		return s.wrongState("Init", Booted)
	}
	err := s.protect(ctx, "Init", func() error {
		return s.fn.Init(ctx, host, req.GetInitPayload(), req.GetSerializedState())
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.state = Error
		s.log.ErrorContext(ctx, "Init failed: instance is now in state Error", "instance", host.ID(), "error", err)
		return fmt.Errorf("Init: %w", err)
	}
	s.life, s.cancelLife = context.WithCancel(context.Background())
	s.state = Initialized
	s.log.InfoContext(ctx, "initialized", "instance", host.ID())
	return nil
}

// stop implements Stop; it is also the first step of a shutdown.
func (s *Server) stop(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	switch st {
	case Initialized:
	case Booted: // Never initialised: nothing of the function to stop.
		s.mu.Lock()
		s.state = Stopped
		s.mu.Unlock()
		s.log.InfoContext(ctx, "stopped before Init")
		return nil
	default:
		return s.wrongState("Stop", Booted, Initialized)
	}
	return s.stopInitialized(ctx)
}

// stopInitialized moves an Initialized instance to Stopped: it refuses new
// events, waits for those in flight (cancelling them after the grace) and
// calls Function.Stop. The caller holds the life-cycle lock.
func (s *Server) stopInitialized(ctx context.Context) error {
	s.mu.Lock()
	s.state = Stopped
	host := s.host
	var idle chan struct{}
	if s.inflight > 0 {
		idle = make(chan struct{})
		s.idle = idle
	}
	s.mu.Unlock()
	if idle != nil {
		s.log.InfoContext(ctx, "stopping: waiting for events in flight", "grace", s.opts.ShutdownGrace)
		grace := time.NewTimer(s.opts.ShutdownGrace)
		select {
		case <-idle:
		case <-grace.C:
		case <-ctx.Done():
		}
		grace.Stop()
	}
	s.cancelEvents() // cancels what is still in flight
	if idle != nil {
		// Function.Stop never overlaps Cast or Call: wait for the cancelled
		// handlers to return, as long as the Stop command allows.
		select {
		case <-idle:
		case <-ctx.Done():
			s.log.WarnContext(ctx, "events still running after cancellation; calling Stop anyway")
		}
	}
	err := s.protect(ctx, "Stop", func() error { return s.fn.Stop(ctx) })
	if err != nil {
		s.mu.Lock()
		s.state = Error
		s.mu.Unlock()
		s.log.ErrorContext(ctx, "Stop failed: instance is now in state Error", "instance", host.ID(), "error", err)
		return fmt.Errorf("Stop: %w", err)
	}
	s.log.InfoContext(ctx, "stopped", "instance", host.ID())
	return nil
}

// shutdown stops the function when the process ends (SIGTERM) without a
// Stop command, and closes the host connection.
func (s *Server) shutdown(ctx context.Context) {
	if err := s.lock(ctx); err != nil {
		s.log.WarnContext(ctx, "shutdown: life-cycle busy, Function.Stop skipped", "error", err)
		return
	}
	defer s.unlock()
	s.mu.Lock()
	st, host := s.state, s.host
	s.mu.Unlock()
	if st == Initialized {
		if err := s.stopInitialized(ctx); err != nil {
			s.log.ErrorContext(ctx, "shutdown", "error", err)
		}
	}
	s.cancelEvents()
	if host != nil {
		host.close()
	}
}

// cancelEvents cancels the contexts of the events in flight.
func (s *Server) cancelEvents() {
	s.mu.Lock()
	cancel := s.cancelLife
	s.mu.Unlock()
	cancel()
}

// enter admits a Cast or Call: the instance must be Initialized and a slot
// free. The returned context ends when the instance stops; done must be
// called when the handler returns.
func (s *Server) enter(ctx context.Context, cmd string) (context.Context, func(), error) {
	s.mu.Lock()
	if s.state != Initialized {
		st := s.state
		s.mu.Unlock()
		return nil, nil, &WrongStateError{Command: cmd, State: st, Want: []State{Initialized}}
	}
	s.inflight++
	life := s.life
	s.mu.Unlock()
	leave := func() {
		s.mu.Lock()
		s.inflight--
		if s.inflight == 0 && s.idle != nil {
			close(s.idle)
			s.idle = nil
		}
		s.mu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, nil, fmt.Errorf("%s: waiting for a free slot (%d in use): %w", cmd, cap(s.slots), ctx.Err())
	case <-life.Done():
		leave()
		return nil, nil, &WrongStateError{Command: cmd, State: s.State(), Want: []State{Initialized}}
	}
	ctx, cancel := context.WithCancel(ctx)
	stopCancel := context.AfterFunc(life, cancel)
	return ctx, func() {
		stopCancel()
		cancel()
		<-s.slots
		leave()
	}, nil
}

// cast implements Cast.
func (s *Server) cast(ctx context.Context, req *edgelessapi.InputEventData) error {
	ctx, done, err := s.enter(ctx, "Cast")
	if err != nil {
		return err
	}
	defer done()
	src := instanceIDFrom(req.GetSrc())
	err = s.protect(ctx, "Cast", func() error { return s.fn.Cast(ctx, src, req.GetMsg()) })
	if err != nil {
		s.log.WarnContext(ctx, "Cast failed", "src", src, "error", err)
		return fmt.Errorf("Cast: %w", err)
	}
	return nil
}

// call implements Call. Errors of the function become CALL_RET_ERR; only a
// refusal (wrong state, no slot) is an RPC error.
func (s *Server) call(ctx context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	ctx, done, err := s.enter(ctx, "Call")
	if err != nil {
		return nil, err
	}
	defer done()
	src := instanceIDFrom(req.GetSrc())
	var reply Reply
	err = s.protect(ctx, "Call", func() error {
		var err error
		reply, err = s.fn.Call(ctx, src, req.GetMsg())
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "Call failed: answering CALL_RET_ERR", "src", src, "error", err)
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_ERR, Msg: []byte(err.Error())}, nil
	}
	if msg, ok := reply.Msg(); ok {
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: msg}, nil
	}
	return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil
}

// PanicError is the error of author code that panicked; the SDK recovers
// the panic, logs it with its stack and answers with this error.
type PanicError struct {
	// Method is the Function method that panicked, e.g. "Call".
	Method string
	// Value is the value passed to panic.
	Value any
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.Method, e.Value) }

// protect runs author code, turning a panic into a *PanicError.
func (s *Server) protect(ctx context.Context, method string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(ctx, "panic in function code", "method", method, "panic", p, "stack", string(debug.Stack()))
			err = &PanicError{Method: method, Value: p}
		}
	}()
	return f()
}
