package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/lograte"
)

// Dataplane routes the events of one node: to its registered instances and
// to its peers. It is safe for concurrent use.
type Dataplane struct {
	cfg    Config
	nodeID string
	log    *slog.Logger

	mu        sync.RWMutex // guards mailboxes and peers; never held across I/O
	mailboxes map[contract.InstanceID]*Mailbox
	peers     map[string]*peer

	pending    *pendingCalls
	nextStream atomic.Uint64 // stream ids of sources that have no Mailbox
	stats      counters
	// rated rate-limits the log lines that peers trigger (rejected events,
	// refused replies, replies that cannot be sent), one limiter per kind.
	rated lograte.Keyed
}

// New returns a data plane for the node cfg.NodeID; zero fields of cfg take
// their defaults.
func New(cfg Config) *Dataplane {
	cfg = cfg.withDefaults()
	d := &Dataplane{
		cfg:       cfg,
		nodeID:    cfg.NodeID,
		log:       cfg.Logger.With("component", "dataplane"),
		mailboxes: make(map[contract.InstanceID]*Mailbox),
		peers:     make(map[string]*peer),
		pending:   newPendingCalls(),
	}
	d.nextStream.Store(randomStreamStart())
	return d
}

// NodeID returns the node id events must target to be delivered here.
func (d *Dataplane) NodeID() string { return d.nodeID }

// Register creates the mailbox of instance id, before the instance starts;
// its events queue until Attach. Registering an id again replaces (and
// unregisters) the previous mailbox.
func (d *Dataplane) Register(id contract.InstanceID) *Mailbox {
	id = canonID(id)
	h := newMailbox(d, id)
	d.mu.Lock()
	old := d.mailboxes[id]
	d.mailboxes[id] = h
	d.mu.Unlock()
	if old != nil {
		d.log.Warn("instance registered twice; replacing its mailbox", "instance", id.FunctionID)
		d.retire(old)
	}
	return h
}

// Unregister removes instance id: events queued for it are dropped (casts)
// or answered ERR (calls), deliveries in progress are cancelled, and calls
// it made or that wait for it fail at once with ErrUnregistered. It returns
// once the instance's goroutines have ended, which is at once for receivers
// that honour ctx.
func (d *Dataplane) Unregister(id contract.InstanceID) {
	id = canonID(id)
	d.mu.Lock()
	h := d.mailboxes[id]
	delete(d.mailboxes, id)
	d.mu.Unlock()
	if h != nil {
		d.retire(h)
	}
}

func (d *Dataplane) retire(h *Mailbox) {
	err := fmt.Errorf("instance %s: %w", h.id.FunctionID, ErrUnregistered)
	n := d.pending.failWhere(func(k pendingKey, dst contract.InstanceID) bool {
		return k.src == h.id || dst == h.id
	}, err)
	if n > 0 {
		h.log.Info("failed pending calls of unregistered instance", "calls", n)
	}
	h.close()
}

// Close unregisters every instance and drops every peer.
func (d *Dataplane) Close() {
	d.mu.Lock()
	hs := d.mailboxes
	d.mailboxes = make(map[contract.InstanceID]*Mailbox)
	d.mu.Unlock()
	for _, h := range hs {
		d.retire(h)
	}
	d.ClearPeers()
}

func (d *Dataplane) mailbox(id contract.InstanceID) *Mailbox {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.mailboxes[id]
}

// Cast sends msg from src to dst (used by the admin API and tests; instances
// send through their Mailbox).
func (d *Dataplane) Cast(ctx context.Context, src, dst contract.InstanceID, msg []byte) error {
	return d.cast(ctx, canonID(src), dst, msg, spanCastRaw)
}

// Call sends msg from src to dst and waits for the reply, at most
// Config.CallTimeout. The reply routes back to src, which need not be a
// registered instance.
func (d *Dataplane) Call(ctx context.Context, src, dst contract.InstanceID, msg []byte) (contract.Reply, error) {
	return d.call(ctx, canonID(src), dst, msg)
}

func (d *Dataplane) cast(ctx context.Context, src, dst contract.InstanceID, msg []byte, span uint64) error {
	dst = canonID(dst)
	var err error
	if dst.NodeID == d.nodeID {
		err = d.deliverLocal(ctx, dst, delivery{typ: edgelessapi.EventType_CAST, src: src, msg: msg})
	} else {
		err = d.castRemote(ctx, src, dst, msg, span)
	}
	if err != nil {
		d.stats.castsDropped.Add(1)
		return fmt.Errorf("cast %s -> %s/%s: %w", src.FunctionID, dst.NodeID, dst.FunctionID, err)
	}
	return nil
}

func (d *Dataplane) castRemote(ctx context.Context, src, dst contract.InstanceID, msg []byte, span uint64) error {
	if !utf8.Valid(msg) {
		return fmt.Errorf("payload is not valid UTF-8, which peers require (proto string): %w", contract.ErrInvalidPayload)
	}
	return d.sendRemote(ctx, dst.NodeID, newEvent(src, dst, 0, edgelessapi.EventType_CAST, msg, rootMetadata(span)))
}

func (d *Dataplane) deliverLocal(ctx context.Context, dst contract.InstanceID, it delivery) error {
	h := d.mailbox(dst)
	if h == nil {
		return fmt.Errorf("instance %s on this node: %w", dst.FunctionID, ErrUnknownInstance)
	}
	return h.enqueue(ctx, it)
}

// streamFor returns the stream id counter of src: its Mailbox's when it is
// registered here, the node-wide one otherwise.
func (d *Dataplane) streamFor(src contract.InstanceID) *atomic.Uint64 {
	if h := d.mailbox(src); h != nil {
		return &h.nextStream
	}
	return &d.nextStream
}

func (d *Dataplane) call(ctx context.Context, src, dst contract.InstanceID, msg []byte) (contract.Reply, error) {
	dst = canonID(dst)
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	local := dst.NodeID == d.nodeID
	if !local && !utf8.Valid(msg) {
		return contract.Reply{}, fmt.Errorf("call %s -> %s/%s: payload is not valid UTF-8, which peers require (proto string): %w",
			src.FunctionID, dst.NodeID, dst.FunctionID, contract.ErrInvalidPayload)
	}
	key, results := d.pending.add(src, dst, d.streamFor(src))
	defer d.pending.remove(key)
	var err error
	if local {
		deadline, _ := ctx.Deadline()
		err = d.deliverLocal(ctx, dst, delivery{typ: edgelessapi.EventType_CALL, src: src, stream: key.stream, msg: msg, deadline: deadline})
	} else {
		err = d.sendRemote(ctx, dst.NodeID, newEvent(src, dst, key.stream, edgelessapi.EventType_CALL, msg, rootMetadata(spanCall)))
	}
	if err != nil {
		return contract.Reply{}, fmt.Errorf("call %s -> %s/%s: %w", src.FunctionID, dst.NodeID, dst.FunctionID, err)
	}
	select {
	case res := <-results:
		if res.err != nil {
			return contract.Reply{}, fmt.Errorf("call %s -> %s/%s (stream %d): %w", src.FunctionID, dst.NodeID, dst.FunctionID, key.stream, res.err)
		}
		return res.reply, nil
	case <-ctx.Done():
		return contract.Reply{}, fmt.Errorf("call %s -> %s/%s (stream %d): no reply: %w", src.FunctionID, dst.NodeID, dst.FunctionID, key.stream, ctx.Err())
	}
}

// sendReply answers the call (to, stream) made to from. A caller on this
// node gets res as it is; a remote caller gets a reply event, in which an
// error becomes ERR. Failures are logged: the caller's deadline ends its
// wait.
func (d *Dataplane) sendReply(from, to contract.InstanceID, stream uint64, res callResult, meta *edgelessapi.EventSerializedMetadata) {
	if to.NodeID == d.nodeID {
		d.completeCall(from, to, stream, res)
		return
	}
	r := res.reply
	if res.err != nil {
		r = contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}
	}
	if r.Type == edgelessapi.CallRetType_CALL_RET_REPLY && !utf8.Valid(r.Msg) {
		d.logRated(context.Background(), slog.LevelWarn, "reply not UTF-8", "reply payload is not valid UTF-8; answering ERR to the remote caller",
			"instance", from.FunctionID, "caller", to.FunctionID, "caller_node", to.NodeID, "stream", stream)
		r = contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}
	}
	// The reply must go out even when from is being unregistered.
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.SendTimeout)
	defer cancel()
	if err := d.sendRemote(ctx, to.NodeID, replyEvent(from, to, stream, r, meta)); err != nil {
		d.logRated(ctx, slog.LevelWarn, "send reply", "send reply", "instance", from.FunctionID, "caller", to.FunctionID, "caller_node", to.NodeID, "stream", stream, "err", err)
	}
}

// completeCall hands the reply res, sent by from, to the call (caller,
// stream), if it waits and was made to from.
func (d *Dataplane) completeCall(from, caller contract.InstanceID, stream uint64, res callResult) {
	switch d.pending.complete(pendingKey{src: caller, stream: stream}, from, res) {
	case replyUnmatched:
		d.stats.repliesUnmatched.Add(1)
		d.log.Debug("reply for no pending call", "caller", caller.FunctionID, "stream", stream)
	case replyWrongSender:
		d.stats.repliesRefused.Add(1)
		d.logRated(context.Background(), slog.LevelWarn, "reply refused", "reply refused: the call was not made to its sender", "caller", caller.FunctionID,
			"stream", stream, "sender_node", contract.Shorten(from.NodeID), "sender", contract.Shorten(from.FunctionID))
	}
}

// Stats are the data plane's counters since New.
type Stats struct {
	CastsDelivered   uint64 // casts a receiver accepted
	CastsFailed      uint64 // casts a receiver returned an error for
	CastsDropped     uint64 // casts not delivered: no route, full queue, bad payload, unregistered
	CallsDelivered   uint64 // calls a receiver answered
	CallsFailed      uint64 // calls answered ERR here (receiver error, expiry, unregistered)
	QueueFull        uint64 // times a sender found a queue full and had to wait
	CastsShed        uint64 // casts refused: the queue held more than MaxQueueDelay of work (after MaxAdmissionWait)
	CastsHeld        uint64 // casts that waited for admission (MaxAdmissionWait), admitted or not
	RepliesUnmatched uint64 // replies for which no call waited (any longer)
	RepliesRefused   uint64 // replies from another instance than the callee (forged), dropped
	EventsRejected   uint64 // incoming events refused by the FunctionInvocation server
	// TLSHandshakeFailures counts the TLS handshakes that failed on the
	// FunctionInvocation server (NewGRPCServer with TLS).
	TLSHandshakeFailures uint64
	PendingCalls         int // calls waiting for a reply now
}

type counters struct {
	castsDelivered, castsFailed, castsDropped atomic.Uint64
	callsDelivered, callsFailed               atomic.Uint64
	queueFull, repliesUnmatched, rejected     atomic.Uint64
	repliesRefused                            atomic.Uint64
	castsShed, castsHeld                      atomic.Uint64
	handshakeFailed                           atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (d *Dataplane) Stats() Stats {
	return Stats{
		CastsDelivered:       d.stats.castsDelivered.Load(),
		CastsFailed:          d.stats.castsFailed.Load(),
		CastsDropped:         d.stats.castsDropped.Load(),
		CallsDelivered:       d.stats.callsDelivered.Load(),
		CallsFailed:          d.stats.callsFailed.Load(),
		QueueFull:            d.stats.queueFull.Load(),
		CastsShed:            d.stats.castsShed.Load(),
		CastsHeld:            d.stats.castsHeld.Load(),
		RepliesUnmatched:     d.stats.repliesUnmatched.Load(),
		RepliesRefused:       d.stats.repliesRefused.Load(),
		EventsRejected:       d.stats.rejected.Load(),
		TLSHandshakeFailures: d.stats.handshakeFailed.Load(),
		PendingCalls:         d.pending.len(),
	}
}
