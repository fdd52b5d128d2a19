package edgelessapi_test

// Hand-written wire tests: they pin the field numbers and types of the
// EDGELESS API to the upstream facts, so that a renumbering in proto/ fails.

import (
	"bytes"
	"encoding/hex"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// id is the InstanceId{node_id: "n", function_id: "f"} used in the golden messages.
func id() *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: "n", FunctionId: "f"}
}

// idBytes is id() encoded: field 1 "n", field 2 "f".
const idBytes = "0a016e" + "120166"

func TestWire_Golden(t *testing.T) {
	t.Parallel()
	trace := bytes.Repeat([]byte{0x11}, 16)
	span := bytes.Repeat([]byte{0x22}, 8)
	tests := []struct {
		name string
		msg  proto.Message
		want string // hex, written by hand from the field numbers
	}{
		{
			name: "BootData",
			msg:  &edgelessapi.BootData{GuestApiHostEndpoint: "http://h:1", InstanceId: id()},
			// 1: string "http://h:1"; 2: InstanceId.
			want: "0a0a" + hex.EncodeToString([]byte("http://h:1")) + "1206" + idBytes,
		},
		{
			name: "OutputEventData",
			msg:  &edgelessapi.OutputEventData{Originator: id(), Alias: "out", Msg: []byte{0xff, 0x00}},
			// 1: originator; 2: alias "out"; 3: msg bytes ff 00 (not UTF-8).
			want: "0a06" + idBytes + "1203" + hex.EncodeToString([]byte("out")) + "1a02ff00",
		},
		{
			name: "DelayedEventData",
			msg: &edgelessapi.DelayedEventData{
				Originator: id(), Alias: "self", Msg: []byte("x"), Delay: 300,
				Metadata: &edgelessapi.EventSerializedMetadata{TraceId: trace, SpanId: span},
			},
			// 1: originator; 2: "self"; 3: "x"; 4: varint 300 (ac 02);
			// 5: metadata (28 bytes: 1: 16-byte trace id, 2: 8-byte span id).
			want: "0a06" + idBytes + "1204" + hex.EncodeToString([]byte("self")) + "1a0178" + "20ac02" +
				"2a1c" + "0a10" + hex.EncodeToString(trace) + "1208" + hex.EncodeToString(span),
		},
		{
			name: "CallReturn reply",
			msg:  &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("ok")},
			// 1: enum 1; 2: bytes "ok".
			want: "0801" + "12026f6b",
		},
		{
			name: "CallReturn err",
			msg:  &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_ERR},
			want: "0802",
		},
		{
			name: "UpdateNodeRequest",
			msg: &edgelessapi.UpdateNodeRequest{
				NodeId: "n", AgentUrl: "a", InvocationUrl: "i",
				Capabilities: &edgelessapi.NodeCapabilities{
					NumCpus: 2, Labels: []string{"hostname=h"}, Runtimes: []string{"CONTAINER"},
				},
				RefreshDeadline: 100, Nonce: 7,
			},
			// 2: "n"; 3: "a"; 4: "i"; 6: capabilities (27 bytes: 10: varint 2;
			// 20 (tag a2 01): "hostname=h"; 50 (tag 92 03): "CONTAINER");
			// 10: varint 100; 11: varint 7.
			want: "12016e" + "1a0161" + "220169" +
				"321b" + "5002" + "a2010a" + hex.EncodeToString([]byte("hostname=h")) +
				"920309" + hex.EncodeToString([]byte("CONTAINER")) +
				"5064" + "5807",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if hex.EncodeToString(got) != tt.want {
				t.Errorf("Marshal(%s) = %x, want %s", tt.name, got, tt.want)
			}
			back := tt.msg.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(got, back); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !proto.Equal(back, tt.msg) {
				t.Errorf("Unmarshal(Marshal(%v)) = %v", tt.msg, back)
			}
		})
	}
}

// guestAPIMessages are the messages the guest API services carry.
var guestAPIMessages = []proto.Message{
	&edgelessapi.BootData{}, &edgelessapi.FunctionInstanceInit{}, &edgelessapi.InputEventData{},
	&edgelessapi.CallReturn{}, &edgelessapi.OutputEventData{}, &edgelessapi.OutputEventDataRaw{},
	&edgelessapi.TelemetryLogEvent{}, &edgelessapi.DelayedEventData{}, &edgelessapi.SyncData{},
	&edgelessapi.InstanceId{}, &edgelessapi.EventSerializedMetadata{},
}

func TestWire_GuestAPIRoundTrip(t *testing.T) {
	t.Parallel()
	// Every message used by the guest API services must be in the list.
	services := []string{"edgeless_api.GuestAPIFunction", "edgeless_api.GuestAPIHost"}
	listed := map[protoreflect.FullName]bool{}
	for _, m := range guestAPIMessages {
		listed[m.ProtoReflect().Descriptor().FullName()] = true
	}
	for _, s := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(s))
		if err != nil {
			t.Fatalf("FindDescriptorByName(%s): %v", s, err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			for _, md := range []protoreflect.MessageDescriptor{methods.Get(i).Input(), methods.Get(i).Output()} {
				if md.FullName().Parent() == "edgeless_api" && !listed[md.FullName()] {
					t.Errorf("%s of %s is not in guestAPIMessages", md.FullName(), methods.Get(i).FullName())
				}
			}
		}
	}
	for _, m := range guestAPIMessages {
		name := string(m.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			msg := m.ProtoReflect().New()
			fillAll(t, msg)
			b, err := proto.Marshal(msg.Interface())
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			back := msg.New()
			if err := proto.Unmarshal(b, back.Interface()); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !proto.Equal(back.Interface(), msg.Interface()) {
				t.Errorf("Unmarshal(Marshal(%v)) = %v", msg, back)
			}
		})
	}
}

// fillAll sets every field of m (recursively) to a non-default value, and
// fails if one of them stays unset.
func fillAll(t *testing.T, m protoreflect.Message) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList() || fd.IsMap():
			t.Fatalf("fillAll: %s: lists and maps are not in the guest API", fd.FullName())
		case fd.Kind() == protoreflect.MessageKind:
			fillAll(t, m.Mutable(fd).Message())
		default:
			m.Set(fd, nonZero(t, fd))
		}
		if !m.Has(fd) {
			t.Errorf("fillAll: %s not set", fd.FullName())
		}
	}
}

func nonZero(t *testing.T, fd protoreflect.FieldDescriptor) protoreflect.Value {
	t.Helper()
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("s-" + string(fd.Name()))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0xff, 0xfe, 0x00, byte(fd.Number())})
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		return protoreflect.ValueOfEnum(values.Get(values.Len() - 1).Number())
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(1<<40 + uint64(fd.Number()))
	default:
		t.Fatalf("nonZero: %s has kind %s, not handled", fd.FullName(), fd.Kind())
		return protoreflect.Value{}
	}
}
