package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// fmtMS renders milliseconds for people: "3ms", "412ms", "1.43s".
func fmtMS(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.2fs", ms/1000)
	}
}

func fmtDuration(d time.Duration) string { return fmtMS(float64(d.Microseconds()) / 1000) }

// fmtSteps renders the step durations a node reported, in order.
func fmtSteps(s *adminapi.Steps) string {
	if s == nil {
		return ""
	}
	var parts []string
	if s.PoolHit {
		parts = append(parts, "pool hit")
	}
	for _, st := range []struct {
		name string
		v    *float64
	}{{"image", s.ImageMS}, {"create", s.CreateMS}, {"boot", s.BootMS}, {"init", s.InitMS}} {
		if st.v != nil {
			parts = append(parts, st.name+" "+fmtMS(*st.v))
		}
	}
	return strings.Join(parts, ", ")
}

// shortID abbreviates a UUID for tables.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// fmtTime renders a time with its age.
func fmtTime(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format("15:04:05"), now.Sub(t).Truncate(time.Second))
}
