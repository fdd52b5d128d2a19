package guest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// TestServe_HeaderListLimit: Serve's gRPC server refuses a request whose
// headers exceed 1 MiB (http.DefaultMaxHeaderBytes, the bound of net/http's
// servers), not grpc-go's default of 16 MiB, even from a client that
// ignores the limit the server advertises (grpc-go's own client would not
// send such headers, so the request is written frame by frame). A request
// with small headers sent the same way is answered, so the raw client is
// able to get an answer.
func TestServe_HeaderListLimit(t *testing.T) {
	t.Parallel()
	_, url := guesttest.StartServer(t, &recorder{}, testOptions(t))
	addr := strings.TrimPrefix(url, "http://")
	for _, tt := range []struct {
		name    string
		n, size int // extra headers and the bytes of each one's value
		refused bool
	}{
		{"1 KiB of headers", 1, 1 << 10, false},
		{"2 MiB of headers in 32 values", 32, 64 << 10, true},
		{"2 MiB of headers in one value", 1, 2 << 20, true},
	} {
		got := rawGRPCCall(t, addr, tt.n, tt.size)
		t.Logf("%s: the server %s", tt.name, got)
		if refused := got != "answered"; refused != tt.refused {
			t.Errorf("%s: the server %s, want refused = %v", tt.name, got, tt.refused)
		}
	}
}

// rawGRPCCall sends an empty GuestAPIFunction/Call over a new h2c
// connection to addr, with n extra headers of size bytes each, ignoring
// the server's SETTINGS, and says how the server reacted: "answered"
// (response headers with HTTP status 200 and a grpc-status other than
// RESOURCE_EXHAUSTED) or how it refused.
func rawGRPCCall(t *testing.T, addr string, n, size int) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A guard against a hang, not a measurement.
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 64 << 20
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}

	fields := []hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: addr},
		{Name: ":path", Value: "/edgeless_api.GuestAPIFunction/Call"},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	}
	for i := range n {
		fields = append(fields, hpack.HeaderField{Name: fmt.Sprintf("x-pad-%d", i), Value: strings.Repeat("a", size)})
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	// The server may close the connection while the request is written:
	// then what it sent before is read below.
	_ = writeRequest(fr, block.Bytes())

	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return "closed the connection"
		}
		if err != nil {
			t.Fatalf("reading the server's frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck() // a failure shows in the next read
			}
		case *http2.GoAwayFrame:
			return "sent GOAWAY " + f.ErrCode.String()
		case *http2.RSTStreamFrame:
			if f.StreamID == streamID {
				return "reset the stream with " + f.ErrCode.String()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != streamID {
				continue
			}
			if s := f.PseudoValue("status"); s != "200" {
				return "answered HTTP status " + s
			}
			if s := headerValue(f, "grpc-status"); s != "" {
				if s == "8" { // RESOURCE_EXHAUSTED
					return "answered RESOURCE_EXHAUSTED"
				}
				return "answered"
			}
			// Response headers without the status: it comes in the
			// trailers.
		}
	}
}

const streamID = 1

// writeRequest writes a request on streamID with the header block b (in
// frames of SETTINGS_MAX_FRAME_SIZE's initial value) and one empty gRPC
// message.
func writeRequest(fr *http2.Framer, b []byte) error {
	const frameMax = 16 << 10
	first := b[:min(len(b), frameMax)]
	b = b[len(first):]
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID, BlockFragment: first, EndHeaders: len(b) == 0}); err != nil {
		return err
	}
	for len(b) > 0 {
		chunk := b[:min(len(b), frameMax)]
		b = b[len(chunk):]
		if err := fr.WriteContinuation(streamID, len(b) == 0, chunk); err != nil {
			return err
		}
	}
	return fr.WriteData(streamID, true, []byte{0, 0, 0, 0, 0}) // uncompressed, empty
}

// headerValue returns the value of the regular header name of f, or "".
func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.RegularFields() {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}
