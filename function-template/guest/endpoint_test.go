package guest_test

import (
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

func TestParseHostEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		wantBase string
		wantAddr string
	}{
		{"http://172.17.0.1:7100", "http://172.17.0.1:7100", "172.17.0.1:7100"},
		{"http://172.17.0.1:7100/", "http://172.17.0.1:7100", "172.17.0.1:7100"},
		{"http://[fd00::1]:7100", "http://[fd00::1]:7100", "[fd00::1]:7100"},
		{"http://[::1]:7100/", "http://[::1]:7100", "[::1]:7100"},
		{"http://host.docker.internal:7100", "http://host.docker.internal:7100", "host.docker.internal:7100"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			base, addr, err := guest.ParseHostEndpoint(tt.in)
			if err != nil {
				t.Fatalf("ParseHostEndpoint(%q) error = %v", tt.in, err)
			}
			if base != tt.wantBase || addr != tt.wantAddr {
				t.Errorf("ParseHostEndpoint(%q) = %q, %q, want %q, %q", tt.in, base, addr, tt.wantBase, tt.wantAddr)
			}
		})
	}
}

func TestParseHostEndpoint_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr string // besides the value itself
	}{
		{"", "empty"},
		{"172.17.0.1:7100", "no scheme"},
		{"//172.17.0.1:7100", "no scheme"},
		{"http://172.17.0.1", "no port"},
		{"http://172.17.0.1:/", "no port"},
		{"http://:7100", "no host"},
		{"https://172.17.0.1:7100", `scheme "https"`},
		{"grpc://172.17.0.1:7100", `scheme "grpc"`},
		{"http://172.17.0.1:0", "not in 1-65535"},
		{"http://172.17.0.1:70000", ""},
		{"http://172.17.0.1:7100/api", `path "/api"`},
		{"http://172.17.0.1:7100/?x=1", "query"},
		{"http://172.17.0.1:7100/#f", "fragment"},
		{"http://u:p@172.17.0.1:7100", "user information"},
		{"http://fd00::1:7100", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			base, _, err := guest.ParseHostEndpoint(tt.in)
			if err == nil {
				t.Fatalf("ParseHostEndpoint(%q) = %q, want an error", tt.in, base)
			}
			if tt.in != "" && !strings.Contains(err.Error(), `"`+tt.in+`"`) {
				t.Errorf("ParseHostEndpoint(%q) error = %q, want it to name the value", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHostEndpoint(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
		})
	}
}
