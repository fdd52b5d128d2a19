package loadgen

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRunState_Arrive(t *testing.T) {
	t.Parallel()
	ev := func(s, i, seq int) string { return fmt.Sprintf("lg %d %d %d %d", s, i, seq, time.Now().UnixNano()) }
	tests := []struct {
		name     string
		payloads []string
		arrived  int
		viol     string // part of the first violation; "" for none
	}{
		{"in order", []string{ev(0, 0, 0), ev(1, 0, 0), ev(0, 0, 1), ev(0, 1, 0)}, 4, ""},
		{"duplicate", []string{ev(0, 0, 0), ev(0, 0, 0)}, 1, "seq 0 arrived, want 1"},
		{"gap", []string{ev(0, 0, 0), ev(0, 0, 2)}, 2, "seq 2 arrived, want 1"},
		{"unknown sender", []string{ev(2, 0, 0)}, 0, "malformed"},
		{"not ours", []string{"hello"}, 0, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &runState{senders: 2, inst: 2, want: 100, done: make(chan struct{}), next: make([]uint32, 4)}
			for _, p := range tt.payloads {
				r.arrive(p, time.Now())
			}
			if r.arrived != tt.arrived {
				t.Errorf("arrived = %d, want %d", r.arrived, tt.arrived)
			}
			switch {
			case tt.viol == "" && r.nviol != 0:
				t.Errorf("violations = %q, want none", r.violations)
			case tt.viol != "" && (r.nviol == 0 || !strings.Contains(r.violations[0], tt.viol)):
				t.Errorf("violations = %q, want one containing %q", r.violations, tt.viol)
			}
		})
	}
}
