package contract

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestShorten(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", QuoteLimit-1) + "éé" // the limit falls inside "é"
	for _, tt := range []struct{ name, in, want string }{
		{"short", "node-1", "node-1"},
		{"at the limit", strings.Repeat("x", QuoteLimit), strings.Repeat("x", QuoteLimit)},
		{"over the limit", strings.Repeat("x", 1<<20), strings.Repeat("x", QuoteLimit) + "..."},
		{"cut inside a rune", long, strings.Repeat("a", QuoteLimit-1) + "..."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Shorten(tt.in)
			if got != tt.want || !utf8.ValidString(got) {
				t.Errorf("Shorten(%d bytes) = %q, want %q", len(tt.in), got, tt.want)
			}
		})
	}
}
