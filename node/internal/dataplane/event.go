package dataplane

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Span ids of upstream's "dangling root" metadata, used when an event is not
// sent while another is being processed (edgeless.md §3.5). The trace id is
// all zeros.
const (
	spanCastAlias uint64 = 0x42a42bdecaf00022
	spanCastRaw   uint64 = 0x42a42bdecaf00023
	spanCall      uint64 = 0x42a42bdecaf00024
)

// Lengths of the metadata fields, fixed by OpenTelemetry.
const (
	traceIDLen = 16
	spanIDLen  = 8
)

// rootMetadata returns the dangling-root metadata of span: one message per
// span id, shared by every event that carries it (it is only read, and
// protobuf messages may be marshalled concurrently). Never modify it.
func rootMetadata(span uint64) *edgelessapi.EventSerializedMetadata {
	switch span {
	case spanCastAlias:
		return rootCastAlias
	case spanCastRaw:
		return rootCastRaw
	case spanCall:
		return rootCall
	}
	return newRootMetadata(span)
}

var (
	rootCastAlias = newRootMetadata(spanCastAlias)
	rootCastRaw   = newRootMetadata(spanCastRaw)
	rootCall      = newRootMetadata(spanCall)
)

func newRootMetadata(span uint64) *edgelessapi.EventSerializedMetadata {
	s := make([]byte, spanIDLen)
	binary.BigEndian.PutUint64(s, span)
	return &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, traceIDLen), SpanId: s}
}

func wireID(id contract.InstanceID) *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: id.NodeID, FunctionId: id.FunctionID}
}

func now() *edgelessapi.EventTimestamp {
	t := time.Now().UTC()
	return &edgelessapi.EventTimestamp{Secs: t.Unix(), Nsecs: uint32(t.Nanosecond())}
}

// newEvent builds a cast or call event. The caller has checked that payload
// is valid UTF-8.
func newEvent(src, dst contract.InstanceID, stream uint64, typ edgelessapi.EventType, payload []byte, meta *edgelessapi.EventSerializedMetadata) *edgelessapi.Event {
	return &edgelessapi.Event{
		Target:   wireID(dst),
		Source:   wireID(src),
		StreamId: stream,
		Msg:      &edgelessapi.EventData{EventType: typ, Payload: string(payload)},
		Created:  now(),
		Metadata: meta,
	}
}

// replyEvent builds the answer to a call: same stream id, created 0/0 (but
// present, because upstream unwraps it).
func replyEvent(from, to contract.InstanceID, stream uint64, r contract.Reply, meta *edgelessapi.EventSerializedMetadata) *edgelessapi.Event {
	data := &edgelessapi.EventData{EventType: edgelessapi.EventType_ERR}
	switch r.Type {
	case edgelessapi.CallRetType_CALL_RET_REPLY:
		data = &edgelessapi.EventData{EventType: edgelessapi.EventType_CALL_RET, Payload: string(r.Msg)}
	case edgelessapi.CallRetType_CALL_RET_NO_REPLY:
		data = &edgelessapi.EventData{EventType: edgelessapi.EventType_CALL_NO_RET}
	}
	if meta == nil {
		meta = rootMetadata(spanCall)
	}
	return &edgelessapi.Event{
		Target:   wireID(to),
		Source:   wireID(from),
		StreamId: stream,
		Msg:      data,
		Created:  &edgelessapi.EventTimestamp{},
		Metadata: meta,
	}
}

// replyFromEvent decodes a reply event as upstream does: any type other
// than CALL_RET and CALL_NO_RET is an error.
func replyFromEvent(typ edgelessapi.EventType, payload []byte) contract.Reply {
	switch typ {
	case edgelessapi.EventType_CALL_RET:
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: payload}
	case edgelessapi.EventType_CALL_NO_RET:
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}
	default:
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}
	}
}

// inbound is a validated incoming event.
type inbound struct {
	target, source contract.InstanceID
	stream         uint64
	typ            edgelessapi.EventType
	payload        []byte
	meta           *edgelessapi.EventSerializedMetadata
}

// decodeEvent validates an incoming event. Target, source and msg are
// required (upstream unwraps them); created may be absent; metadata may be
// absent, but when present its ids must have their OpenTelemetry lengths.
func decodeEvent(ev *edgelessapi.Event) (inbound, error) {
	var in inbound
	if ev == nil {
		return in, fmt.Errorf("no event: %w", ErrMalformedEvent)
	}
	var err error
	if in.target, err = eventInstanceID("target", ev.GetTarget()); err != nil {
		return in, err
	}
	if in.source, err = eventInstanceID("source", ev.GetSource()); err != nil {
		return in, err
	}
	msg := ev.GetMsg()
	if msg == nil {
		return in, fmt.Errorf("event has no msg: %w", ErrMalformedEvent)
	}
	if m := ev.GetMetadata(); m != nil {
		if n := len(m.GetTraceId()); n != 0 && n != traceIDLen {
			return in, fmt.Errorf("metadata.trace_id has %d bytes, want %d: %w", n, traceIDLen, ErrMalformedEvent)
		}
		if n := len(m.GetSpanId()); n != 0 && n != spanIDLen {
			return in, fmt.Errorf("metadata.span_id has %d bytes, want %d: %w", n, spanIDLen, ErrMalformedEvent)
		}
		in.meta = m
	}
	in.stream = ev.GetStreamId()
	in.typ = msg.GetEventType()
	in.payload = []byte(msg.GetPayload())
	return in, nil
}

// eventInstanceID validates the instance id in an incoming event's field
// and returns it in canonical form; failures wrap ErrMalformedEvent.
func eventInstanceID(field string, id *edgelessapi.InstanceId) (contract.InstanceID, error) {
	if id == nil {
		return contract.InstanceID{}, fmt.Errorf("event has no %s: %w", field, ErrMalformedEvent)
	}
	if contract.IsCanonicalUUID(id.GetNodeId()) && contract.IsCanonicalUUID(id.GetFunctionId()) {
		// Already canonical (what every node sends): no copies.
		return contract.InstanceID{NodeID: id.GetNodeId(), FunctionID: id.GetFunctionId()}, nil
	}
	n, err := uuid.Parse(id.GetNodeId())
	if err != nil {
		return contract.InstanceID{}, fmt.Errorf("%s.node_id %q is not a UUID: %w", field, contract.Shorten(id.GetNodeId()), ErrMalformedEvent)
	}
	f, err := uuid.Parse(id.GetFunctionId())
	if err != nil {
		return contract.InstanceID{}, fmt.Errorf("%s.function_id %q is not a UUID: %w", field, contract.Shorten(id.GetFunctionId()), ErrMalformedEvent)
	}
	return contract.InstanceID{NodeID: n.String(), FunctionID: f.String()}, nil
}

// canonUUID returns s in lower-case hyphenated form when it parses as a
// UUID (as upstream compares parsed UUIDs), and s unchanged otherwise.
func canonUUID(s string) string {
	if contract.IsCanonicalUUID(s) {
		return s
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return s
	}
	return u.String()
}

func canonID(id contract.InstanceID) contract.InstanceID {
	return contract.InstanceID{NodeID: canonUUID(id.NodeID), FunctionID: canonUUID(id.FunctionID)}
}
