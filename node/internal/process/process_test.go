package process_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/process"
)

func TestNewLogger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level, format string
		wantErr       string
		wantOut       string
	}{
		{level: "info", format: "text", wantOut: "level=INFO msg=hello"},
		{level: "debug", format: "JSON", wantOut: `"msg":"hello"`},
		{level: "loud", format: "text", wantErr: `--log-level "loud"`},
		{level: "info", format: "xml", wantErr: `--log-format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log, err := process.NewLogger(&buf, tt.level, tt.format)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewLogger(%q, %q) error = %v, want %q", tt.level, tt.format, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewLogger(%q, %q) error = %v", tt.level, tt.format, err)
			}
			log.Info("hello")
			log.Debug("hidden at info")
			if got := buf.String(); !strings.Contains(got, tt.wantOut) {
				t.Errorf("output = %q, want it to contain %q", got, tt.wantOut)
			}
			if got := buf.String(); tt.level == "info" && strings.Contains(got, "hidden") {
				t.Errorf("output = %q: a debug record passed at level info", got)
			}
		})
	}
}
