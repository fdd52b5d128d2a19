package container

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		want functionCode
	}{
		{"container:img", functionCode{kind: kindContainer, image: "img"}},
		{"container:img:1.0", functionCode{kind: kindContainer, image: "img:1.0"}},
		{"container:localhost:5000/team/fn:v2", functionCode{kind: kindContainer, image: "localhost:5000/team/fn:v2"}},
		{"container:fn@sha256:abcd", functionCode{kind: kindContainer, image: "fn@sha256:abcd"}},
		{"grpc:http://127.0.0.1:7101", functionCode{kind: kindGRPC, url: "http://127.0.0.1:7101"}},
		{"grpc:http://[::1]:7101/", functionCode{kind: kindGRPC, url: "http://[::1]:7101"}},
	}
	for _, tt := range tests {
		got, err := parseCode(tt.code)
		if err != nil || got != tt.want {
			t.Errorf("parseCode(%q) = %+v, %v; want %+v", tt.code, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "container", "container:", "docker:img", "CONTAINER:img",
		"container:my image", "grpc:", "grpc:127.0.0.1:7101", "grpc:https://h:1", "grpc:http://h", "grpc:http://:80"} {
		_, err := parseCode(bad)
		if !errors.Is(err, ErrBadCode) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("parseCode(%q) = %v, want ErrBadCode naming the value", bad, err)
		}
	}
}
