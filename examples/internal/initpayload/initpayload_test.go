package initpayload

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Parallel()
	got, err := Parse(" period-ms = 250 , mode=upper,", "period-ms", "mode")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"period-ms": "250", "mode": "upper"}, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if got, err := Parse("", "x"); err != nil || len(got) != 0 {
		t.Errorf("Parse(\"\") = %v, %v; want no options", got, err)
	}
	for in, want := range map[string]string{
		"x":   `init payload option "x": want key=value`,
		"y=1": `init payload option "y": unknown key (known: x)`,
	} {
		if _, err := Parse(in, "x"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}
