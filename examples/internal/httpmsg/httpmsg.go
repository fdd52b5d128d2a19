// Package httpmsg is upstream's edgeless_http encoding as a function sees
// it: the JSON of the request an http-ingress resource calls a function
// with, and of the response the function answers (serde's encoding: bodies
// are arrays of byte values, methods are "Get", "Post", ...).
package httpmsg

import (
	"encoding/json"
	"fmt"
)

// Body is a body as serde writes a Vec<u8>: an array of numbers, or null.
type Body []byte

// MarshalJSON writes b as an array of numbers (null when nil).
func (b Body) MarshalJSON() ([]byte, error) {
	if b == nil {
		return []byte("null"), nil
	}
	nums := make([]int, len(b))
	for i, c := range b {
		nums[i] = int(c)
	}
	return json.Marshal(nums)
}

// UnmarshalJSON reads an array of byte values, or null.
func (b *Body) UnmarshalJSON(data []byte) error {
	var nums []int
	if err := json.Unmarshal(data, &nums); err != nil {
		return fmt.Errorf("body: want an array of byte values: %w", err)
	}
	if nums == nil {
		*b = nil
		return nil
	}
	out := make([]byte, len(nums))
	for i, n := range nums {
		if n < 0 || n > 255 {
			return fmt.Errorf("body[%d] = %d: not a byte", i, n)
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
	Body     Body              `json:"body"`
	Headers  map[string]string `json:"headers"`
}

// Response is upstream's EdgelessHTTPResponse.
type Response struct {
	Body    Body              `json:"body"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
}

// ParseRequest decodes the JSON an http-ingress sends.
func ParseRequest(msg []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(msg, &r); err != nil {
		return Request{}, fmt.Errorf("not an http-ingress request (EdgelessHTTPRequest JSON): %w", err)
	}
	if r.Method == "" {
		return Request{}, fmt.Errorf("not an http-ingress request: no method")
	}
	return r, nil
}

// Encode returns the JSON of r (headers {} when nil).
func (r Response) Encode() []byte {
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // strings, ints and Body only
	}
	return b
}
