package dataplane

import (
	"testing"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/contract/contracttest"
)

// FuzzCanonUUID checks the fast path of canonUUID against uuid.Parse: a
// string taken as canonical must parse and print as itself, and canonUUID
// must agree with parsing for every input.
func FuzzCanonUUID(f *testing.F) {
	contracttest.AddUUIDSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		u, err := uuid.Parse(s)
		if contract.IsCanonicalUUID(s) && (err != nil || u.String() != s) {
			t.Fatalf("IsCanonicalUUID(%q) = true, but uuid.Parse gives %v, %v", s, u, err)
		}
		want := s
		if err == nil {
			want = u.String()
		}
		if got := canonUUID(s); got != want {
			t.Fatalf("canonUUID(%q) = %q, want %q", s, got, want)
		}
	})
}

// The shared root metadata must stay what upstream expects: an all-zero
// 16-byte trace id and the span id of its kind, whatever the tests and
// sends before did.
func TestRootMetadataShared(t *testing.T) {
	t.Parallel()
	for _, span := range []uint64{spanCastAlias, spanCastRaw, spanCall, 7} {
		m := rootMetadata(span)
		if m != rootMetadata(span) && span != 7 {
			t.Errorf("rootMetadata(%#x) is built anew each time", span)
		}
		want := newRootMetadata(span)
		if string(m.GetTraceId()) != string(want.GetTraceId()) || string(m.GetSpanId()) != string(want.GetSpanId()) ||
			len(m.GetTraceId()) != traceIDLen || len(m.GetSpanId()) != spanIDLen {
			t.Errorf("rootMetadata(%#x) = %x/%x, want %x/%x", span, m.GetTraceId(), m.GetSpanId(), want.GetTraceId(), want.GetSpanId())
		}
	}
}
