package contract

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/contract/contracttest"
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
	contracttest.AddUUIDSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		if !IsCanonicalUUID(s) {
			return
		}
		if u, err := uuid.Parse(s); err != nil || u.String() != s {
			t.Fatalf("IsCanonicalUUID(%q) = true, but uuid.Parse gives %v, %v", s, u, err)
		}
	})
}
