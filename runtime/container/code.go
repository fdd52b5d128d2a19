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

// CodeError is a code string the runtime refuses; it wraps ErrBadCode.
type CodeError struct {
	// Code is the code string; Reason says what is wrong with it.
	Code, Reason string
}

// Error says which code string is refused and why.
func (e *CodeError) Error() string { return fmt.Sprintf("%v %q: %s", ErrBadCode, e.Code, e.Reason) }

// Unwrap returns ErrBadCode.
func (e *CodeError) Unwrap() error { return ErrBadCode }

// CheckCode reports whether the runtime can run code: nil, or a
// *CodeError. Workflow validators use it so that they accept exactly what
// the runtime does.
func CheckCode(code string) error {
	_, err := parseCode(code)
	return err
}

// parseCode parses "container:<image>" or "grpc:<url>". Like upstream it
// splits at the first colon, so an image may carry a registry host:port and
// a tag ("container:localhost:5000/fn:1.0"). A grpc: URL must be
// http://<host>:<port> (gRPC over plain HTTP/2).
func parseCode(s string) (functionCode, error) {
	bad := func(format string, args ...any) (functionCode, error) {
		return functionCode{}, &CodeError{Code: s, Reason: fmt.Sprintf(format, args...)}
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad(`want "container:<image>" or "grpc:<url>"`)
	}
	switch kind {
	case "container":
		if rest == "" {
			return bad(`no image after "container:"`)
		}
		if strings.ContainsFunc(rest, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return bad("image name contains a space or control character")
		}
		return functionCode{kind: kindContainer, image: rest}, nil
	case "grpc":
		u, err := url.Parse(rest)
		if err != nil || u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return bad(`want "grpc:http://<host>:<port>"`)
		}
		return functionCode{kind: kindGRPC, url: strings.TrimRight(rest, "/")}, nil
	default:
		return bad(`unknown kind %q, want "container:<image>" or "grpc:<url>"`, kind)
	}
}
