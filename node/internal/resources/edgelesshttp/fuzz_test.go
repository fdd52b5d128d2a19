package edgelesshttp

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecode checks that any input decodes without a panic, and that what
// decodes survives an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(upstreamRequest))
	f.Add([]byte(`{"body":[255,0],"status":200,"headers":{"a":"b"}}`))
	f.Add([]byte(`{"body":null,"status":999,"headers":{}}`))
	f.Add([]byte(`{"method":"Get","protocol":"HTTPS","host":"h","path":"","body":[],"headers":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeRequest(data); err == nil {
			again, err := DecodeRequest(EncodeRequest(r))
			if r.Headers == nil {
				r.Headers = map[string]string{}
			}
			if err != nil || !cmp.Equal(r, again) {
				t.Errorf("request round trip: %+v -> %+v, %v", r, again, err)
			}
		}
		if r, err := DecodeResponse(data); err == nil {
			again, err := DecodeResponse(EncodeResponse(r))
			if r.Headers == nil {
				r.Headers = map[string]string{}
			}
			if err != nil || !cmp.Equal(r, again) {
				t.Errorf("response round trip: %+v -> %+v, %v", r, again, err)
			}
		}
	})
}
