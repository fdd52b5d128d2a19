package edgelesshttp

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// upstreamRequest is what serde_json writes for an EdgelessHTTPRequest.
const upstreamRequest = `{"method":"Post","protocol":"Unknown","host":"127.0.0.1:7008","path":"/x?y=1","body":[104,105],"headers":{"content-type":"text/plain"}}`

func TestRequest_UpstreamJSON(t *testing.T) {
	t.Parallel()
	r, err := DecodeRequest([]byte(upstreamRequest))
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Method: "Post", Protocol: ProtocolUnknown, Host: "127.0.0.1:7008", Path: "/x?y=1", Body: Bytes("hi"), Headers: map[string]string{"content-type": "text/plain"}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("DecodeRequest mismatch (-want +got):\n%s", diff)
	}
	if got := string(EncodeRequest(r)); got != upstreamRequest {
		t.Errorf("EncodeRequest = %s, want %s", got, upstreamRequest)
	}
}

func TestResponse_UpstreamJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`{"body":null,"status":204,"headers":{}}`, `{"body":null,"status":204,"headers":{}}`},
		{`{"body":[255,0],"status":200,"headers":{"a":"b"}}`, `{"body":[255,0],"status":200,"headers":{"a":"b"}}`},
	} {
		r, err := DecodeResponse([]byte(tt.in))
		if err != nil {
			t.Fatalf("DecodeResponse(%s) = %v", tt.in, err)
		}
		if got := string(EncodeResponse(r)); got != tt.want {
			t.Errorf("EncodeResponse(DecodeResponse(%s)) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDecode_BadInputNamesTheProblem(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in, want string
		resp           bool
	}{
		{"not json", `hello`, "not upstream's EdgelessHTTPRequest JSON", false},
		{"method", `{"method":"GET","protocol":"HTTP","host":"h","path":"/","body":null,"headers":{}}`, `method "GET" is not one of`, false},
		{"protocol", `{"method":"Get","protocol":"ftp","host":"h","path":"/","body":null,"headers":{}}`, `protocol "ftp"`, false},
		{"body byte", `{"method":"Get","protocol":"HTTP","host":"h","path":"/","body":[256],"headers":{}}`, "byte value", false},
		{"no host", `{"method":"Get","protocol":"HTTP","host":"","path":"/","body":null,"headers":{}}`, "host is empty", false},
		{"status", `{"body":null,"status":42,"headers":{}}`, "status 42", true},
		{"informational", `{"body":null,"status":100,"headers":{}}`, "status 100", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.resp {
				_, err = DecodeResponse([]byte(tt.in))
			} else {
				_, err = DecodeRequest([]byte(tt.in))
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%s) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestHeaders_LowerCaseJoinedVisibleASCII(t *testing.T) {
	t.Parallel()
	got := Headers(http.Header{"Content-Type": {"a"}, "X-Multi": {"1", "2"}, "X-Bin": {"\xff"}})
	want := map[string]string{"content-type": "a", "x-multi": "1, 2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Headers mismatch (-want +got):\n%s", diff)
	}
}

func TestMethod(t *testing.T) {
	t.Parallel()
	if m, err := Method("PATCH"); m != "Patch" || err != nil {
		t.Errorf("Method(PATCH) = %q, %v", m, err)
	}
	if _, err := Method("OPTIONS"); err == nil {
		t.Errorf("Method(OPTIONS) = nil error, want one")
	}
}
