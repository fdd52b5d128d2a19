package dataplane

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// FuzzCanonUUID checks the fast path of canonUUID against uuid.Parse: a
// string taken as canonical must parse and print as itself, and canonUUID
// must agree with parsing for every input.
func FuzzCanonUUID(f *testing.F) {
	for _, s := range []string{
		"6d1b3c2a-0000-4000-8000-00000000000a", "6D1B3C2A-0000-4000-8000-00000000000A",
		"{6d1b3c2a-0000-4000-8000-00000000000a}", "urn:uuid:6d1b3c2a-0000-4000-8000-00000000000a",
		"6d1b3c2a000040008000000000000000", "6d1b3c2a-0000-4000-8000-00000000000g",
		"6d1b3c2a-0000-4000-8000_00000000000a", "6d1b3c2a-0000-4000-8000-00000000000", "", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := uuid.Parse(s)
		if isCanonUUID(s) && (err != nil || u.String() != s) {
			t.Fatalf("isCanonUUID(%q) = true, but uuid.Parse gives %v, %v", s, u, err)
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

func TestIsCanonUUID(t *testing.T) {
	t.Parallel()
	for range 100 {
		s := uuid.NewString()
		if !isCanonUUID(s) {
			t.Fatalf("isCanonUUID(%q) = false", s)
		}
		if up := strings.ToUpper(s); isCanonUUID(up) {
			t.Fatalf("isCanonUUID(%q) = true", up)
		}
	}
}
