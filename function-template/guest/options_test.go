package guest_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantAddr  string
		wantLevel slog.Level
		wantConc  int
		wantGrace time.Duration
	}{
		{name: "defaults", wantAddr: ":7101", wantLevel: slog.LevelInfo, wantConc: 64, wantGrace: 2 * time.Second},
		{name: "free port", args: []string{"-port", "0"}, wantAddr: ":0", wantLevel: slog.LevelInfo, wantConc: 64, wantGrace: 2 * time.Second},
		{name: "PORT", env: map[string]string{"PORT": "8080"}, wantAddr: ":8080", wantLevel: slog.LevelInfo, wantConc: 64, wantGrace: 2 * time.Second},
		{name: "flag wins", args: []string{"-port", "9000"}, env: map[string]string{"PORT": "8080"}, wantAddr: ":9000", wantLevel: slog.LevelInfo, wantConc: 64, wantGrace: 2 * time.Second},
		{name: "rust endpoint", args: []string{"--endpoint", "http://0.0.0.0:7101/"}, wantAddr: "0.0.0.0:7101", wantLevel: slog.LevelInfo, wantConc: 64, wantGrace: 2 * time.Second},
		{name: "rust endpoint short", args: []string{"-e", "http://[::]:7102"}, wantAddr: "[::]:7102", wantLevel: slog.LevelInfo, wantConc: 64, wantGrace: 2 * time.Second},
		{
			name:     "env",
			env:      map[string]string{"LOG_LEVEL": "debug", "MAX_CONCURRENCY": "3", "SHUTDOWN_GRACE": "500ms"},
			wantAddr: ":7101", wantLevel: slog.LevelDebug, wantConc: 3, wantGrace: 500 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, level, err := guest.ParseArgs(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("ParseArgs(%q) error = %v", tt.args, err)
			}
			if opts.Addr != tt.wantAddr || level != tt.wantLevel || opts.MaxConcurrency != tt.wantConc || opts.ShutdownGrace != tt.wantGrace {
				t.Errorf("ParseArgs(%q) = addr %q level %v conc %d grace %v, want %q %v %d %v",
					tt.args, opts.Addr, level, opts.MaxConcurrency, opts.ShutdownGrace, tt.wantAddr, tt.wantLevel, tt.wantConc, tt.wantGrace)
			}
		})
	}
}

func TestParseArgs_MaxPayloadBytes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default", nil, nil, guest.DefaultMaxPayloadBytes},
		{"env", nil, map[string]string{"MAX_PAYLOAD_BYTES": "1048576"}, 1 << 20},
		{"flag wins", []string{"-max-payload-bytes", "2048"}, map[string]string{"MAX_PAYLOAD_BYTES": "1048576"}, 2048},
	} {
		opts, _, err := guest.ParseArgs(tt.args, func(k string) string { return tt.env[k] })
		if err != nil {
			t.Fatalf("%s: ParseArgs(%q) error = %v", tt.name, tt.args, err)
		}
		if opts.MaxPayloadBytes != tt.want {
			t.Errorf("%s: ParseArgs(%q).MaxPayloadBytes = %d, want %d", tt.name, tt.args, opts.MaxPayloadBytes, tt.want)
		}
	}
}

func TestParseArgs_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad PORT", nil, map[string]string{"PORT": "http"}, `port "http"`},
		{"port too large", []string{"-port", "65536"}, nil, `port "65536"`},
		{"endpoint without port", []string{"-endpoint", "http://0.0.0.0"}, nil, "no port"},
		{"bad level", nil, map[string]string{"LOG_LEVEL": "loud"}, `log level "loud"`},
		{"bad concurrency", []string{"-max-concurrency", "0"}, nil, `max concurrency "0"`},
		{"bad max payload", []string{"-max-payload-bytes", "0"}, nil, `max payload bytes "0"`},
		{"max payload not a number", nil, map[string]string{"MAX_PAYLOAD_BYTES": "16MiB"}, `max payload bytes "16MiB"`},
		{"bad grace", nil, map[string]string{"SHUTDOWN_GRACE": "2"}, `"2" is not a duration`},
		{"unknown flag", []string{"-verbose"}, nil, "-verbose"},
		{"extra argument", []string{"serve"}, nil, `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := guest.ParseArgs(tt.args, func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseArgs(%q, %v) error = %v, want it to contain %q", tt.args, tt.env, err, tt.wantErr)
			}
		})
	}
}
