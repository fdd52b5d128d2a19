package container

import (
	"fmt"
	"net/url"
	"strings"
)

// codeKind says how an instance is run.
type codeKind int

const (
	// kindContainer: a Docker container started from a local image.
	kindContainer codeKind = iota + 1
	// kindGRPC: an already running GuestAPIFunction server; no Docker.
	kindGRPC
)

// functionCode is a parsed code string.
type functionCode struct {
	kind  codeKind
	image string // kindContainer
	url   string // kindGRPC: the base URL of the function's server
}

// parseCode parses "container:<image>" or "grpc:<url>". Like upstream it
// splits at the first colon, so an image may carry a registry host:port and
// a tag ("container:localhost:5000/fn:1.0"). A grpc: URL must be
// http://<host>:<port> (gRPC over plain HTTP/2).
func parseCode(s string) (functionCode, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return functionCode{}, fmt.Errorf("%w %q: want container:<image> or grpc:<url>", ErrBadCode, s)
	}
	switch kind {
	case "container":
		if rest == "" {
			return functionCode{}, fmt.Errorf("%w %q: empty image", ErrBadCode, s)
		}
		if strings.ContainsFunc(rest, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return functionCode{}, fmt.Errorf("%w %q: image name contains a space or control character", ErrBadCode, s)
		}
		return functionCode{kind: kindContainer, image: rest}, nil
	case "grpc":
		u, err := url.Parse(rest)
		if err != nil {
			return functionCode{}, fmt.Errorf("%w %q: %w", ErrBadCode, s, err)
		}
		if u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return functionCode{}, fmt.Errorf("%w %q: want grpc:http://<host>:<port>", ErrBadCode, s)
		}
		return functionCode{kind: kindGRPC, url: strings.TrimRight(rest, "/")}, nil
	default:
		return functionCode{}, fmt.Errorf("%w %q: unknown kind %q, want container:<image> or grpc:<url>", ErrBadCode, s, kind)
	}
}
