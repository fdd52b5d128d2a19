// Package edgelesshttp is upstream's edgeless_http encoding: the JSON that
// http-ingress sends to its new_request output and expects back, and that
// http-egress takes and answers. It is serde's default encoding of
// upstream's EdgelessHTTPRequest and EdgelessHTTPResponse: methods and
// protocols by variant name ("Get", "HTTPS"), bodies as a JSON array of
// byte values (or null), headers as an object of strings.
package edgelesshttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The methods upstream knows, by their variant names on the wire.
var methods = map[string]string{
	http.MethodGet:    "Get",
	http.MethodHead:   "Head",
	http.MethodPost:   "Post",
	http.MethodPut:    "Put",
	http.MethodDelete: "Delete",
	http.MethodPatch:  "Patch",
}

// Method returns the wire name ("Get") of an HTTP method ("GET"), or an
// error for a method upstream cannot encode (OPTIONS, TRACE, ...).
func Method(httpMethod string) (string, error) {
	if m, ok := methods[httpMethod]; ok {
		return m, nil
	}
	return "", fmt.Errorf("HTTP method %q is not one of GET, HEAD, POST, PUT, DELETE, PATCH", httpMethod)
}

// HTTPMethod returns the HTTP method ("GET") of a wire name ("Get").
func HTTPMethod(wire string) (string, error) {
	for h, w := range methods {
		if w == wire {
			return h, nil
		}
	}
	return "", fmt.Errorf("method %q is not one of Get, Head, Post, Put, Delete, Patch", wire)
}

// The protocols of a request, by their variant names.
const (
	ProtocolUnknown = "Unknown"
	ProtocolHTTP    = "HTTP"
	ProtocolHTTPS   = "HTTPS"
)

// Bytes is a body: a JSON array of byte values, as serde encodes a Vec<u8>
// (encoding/json would write base64). A nil Bytes is null.
type Bytes []byte

// MarshalJSON writes b as an array of numbers, or null when b is nil.
func (b Bytes) MarshalJSON() ([]byte, error) {
	if b == nil {
		return []byte("null"), nil
	}
	out := make([]byte, 0, 2+4*len(b))
	out = append(out, '[')
	for i, c := range b {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(c), 10)
	}
	return append(out, ']'), nil
}

// UnmarshalJSON reads an array of numbers 0..255, or null.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*b = nil
		return nil
	}
	var nums []int
	if err := json.Unmarshal(data, &nums); err != nil {
		return errors.New("body: want an array of byte values (0..255) or null")
	}
	out := make([]byte, len(nums))
	for i, n := range nums {
		if n < 0 || n > 255 {
			return fmt.Errorf("body[%d] = %d: want a byte value (0..255)", i, n)
		}
		out[i] = byte(n)
	}
	*b = out
	return nil
}

// Request is upstream's EdgelessHTTPRequest.
type Request struct {
	Method   string            `json:"method"`
	Protocol string            `json:"protocol"`
	Host     string            `json:"host"`
	Path     string            `json:"path"`
	Body     Bytes             `json:"body"`
	Headers  map[string]string `json:"headers"`
}

// Response is upstream's EdgelessHTTPResponse.
type Response struct {
	Body    Bytes             `json:"body"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
}

// EncodeRequest returns the JSON of r; a nil Headers is written as {}.
func EncodeRequest(r Request) []byte {
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	out, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("edgelesshttp: encode request: %v", err)) // only strings, maps and Bytes: cannot fail
	}
	return out
}

// EncodeResponse returns the JSON of r; a nil Headers is written as {}.
func EncodeResponse(r Response) []byte {
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	out, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("edgelesshttp: encode response: %v", err))
	}
	return out
}

// DecodeRequest parses a request and checks its method, protocol and host.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return Request{}, fmt.Errorf("http request: not upstream's EdgelessHTTPRequest JSON: %w", err)
	}
	if _, err := HTTPMethod(r.Method); err != nil {
		return Request{}, fmt.Errorf("http request: %w", err)
	}
	switch r.Protocol {
	case ProtocolUnknown, ProtocolHTTP, ProtocolHTTPS:
	default:
		return Request{}, fmt.Errorf("http request: protocol %q is not one of Unknown, HTTP, HTTPS", r.Protocol)
	}
	if r.Host == "" {
		return Request{}, errors.New("http request: host is empty")
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return Request{}, fmt.Errorf("http request: path %q does not start with /", r.Path)
	}
	return r, nil
}

// DecodeResponse parses a response and checks its status (100..999, as
// upstream's hyper accepts; 1xx is refused here because it cannot end an
// exchange).
func DecodeResponse(data []byte) (Response, error) {
	var r Response
	if err := json.Unmarshal(data, &r); err != nil {
		return Response{}, fmt.Errorf("http response: not upstream's EdgelessHTTPResponse JSON: %w", err)
	}
	if r.Status < 200 || r.Status > 999 {
		return Response{}, fmt.Errorf("http response: status %d: want 200..999", r.Status)
	}
	return r, nil
}

// Headers flattens h as upstream does: names in lower case (hyper's form),
// several values of one name joined with ", ", values that are not visible
// ASCII dropped (as upstream's HeaderValue::to_str drops them).
func Headers(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		var keep []string
		for _, v := range vs {
			if isPrintable(v) {
				keep = append(keep, v)
			}
		}
		if len(keep) > 0 {
			out[strings.ToLower(k)] = strings.Join(keep, ", ")
		}
	}
	return out
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}
