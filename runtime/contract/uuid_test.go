package contract

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestIsCanonicalUUID(t *testing.T) {
	t.Parallel()
	for range 100 {
		s := uuid.NewString()
		if !IsCanonicalUUID(s) {
			t.Fatalf("IsCanonicalUUID(%q) = false", s)
		}
		if up := strings.ToUpper(s); IsCanonicalUUID(up) {
			t.Fatalf("IsCanonicalUUID(%q) = true", up)
		}
	}
}

// FuzzIsCanonicalUUID checks the fast path against uuid.Parse: a string
// taken as canonical must parse and print as itself.
func FuzzIsCanonicalUUID(f *testing.F) {
	for _, s := range []string{
		"6d1b3c2a-0000-4000-8000-00000000000a", "6D1B3C2A-0000-4000-8000-00000000000A",
		"{6d1b3c2a-0000-4000-8000-00000000000a}", "urn:uuid:6d1b3c2a-0000-4000-8000-00000000000a",
		"6d1b3c2a000040008000000000000000", "6d1b3c2a-0000-4000-8000-00000000000g",
		"6d1b3c2a-0000-4000-8000_00000000000a", "6d1b3c2a-0000-4000-8000-00000000000", "", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !IsCanonicalUUID(s) {
			return
		}
		if u, err := uuid.Parse(s); err != nil || u.String() != s {
			t.Fatalf("IsCanonicalUUID(%q) = true, but uuid.Parse gives %v, %v", s, u, err)
		}
	})
}
