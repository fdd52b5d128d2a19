package transporttest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
)

// Message returns the protobuf encoding of a message whose field 1 holds n
// bytes of 'a': what any request with a large string or bytes field 1 looks
// like on the wire. A server's read limit refuses it before unmarshalling,
// whatever field 1 really is.
func Message(n int) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	return append(b, bytes.Repeat([]byte{'a'}, n)...)
}

// GzipBomb returns a gzip stream that unpacks to the encoding of a message
// whose field 1 holds n zero bytes (n a multiple of 1 MiB), and is about a
// thousandth of that on the wire: gzip members of 1 MiB of zeros, repeated
// (a gzip reader reads concatenated members as one stream), so that building
// it costs no memory or time in the test.
func GzipBomb(n int) []byte {
	const chunk = 1 << 20
	var head []byte
	head = protowire.AppendTag(head, 1, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(n))
	member := func(p []byte) []byte {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = w.Write(p)
		_ = w.Close()
		return buf.Bytes()
	}
	out := member(head)
	zeros := member(make([]byte, chunk))
	for range n / chunk {
		out = append(out, zeros...)
	}
	return out
}

// PostGRPC sends body as one gRPC message (compressed with gzip if gz) to
// procedure (e.g. "/edgeless_api.NodeManagement/UpdatePeers") at baseURL,
// over plain-text HTTP/2 as a foreign peer would, and returns the gRPC
// status code and message of the answer.
func PostGRPC(t testing.TB, baseURL, procedure string, body []byte, gz bool) (connect.Code, string) {
	t.Helper()
	frame := make([]byte, 5, 5+len(body))
	if gz {
		frame[0] = 1
	}
	binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
	frame = append(frame, body...)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, strings.TrimSuffix(baseURL, "/")+procedure, bytes.NewReader(frame))
	if err != nil {
		t.Fatalf("request %s: %v", procedure, err)
	}
	req.Header.Set("Content-Type", "application/grpc+proto")
	req.Header.Set("Te", "trailers")
	if gz {
		req.Header.Set("Grpc-Encoding", "gzip")
	}
	hc := Client()
	defer hc.CloseIdleConnections() // an idle h2c connection would delay the server's shutdown
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", procedure, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) // trailers follow the body
	status := resp.Header.Get("Grpc-Status")
	msg := resp.Header.Get("Grpc-Message")
	if status == "" {
		status, msg = resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	}
	if status == "" {
		t.Fatalf("POST %s: HTTP %s without grpc-status", procedure, resp.Status)
	}
	n, err := strconv.Atoi(status)
	if err != nil || n < 0 || n > int(connect.CodeUnauthenticated) {
		t.Fatalf("POST %s: grpc-status %q is not a gRPC code", procedure, status)
	}
	return connect.Code(n), msg
}

// Allocated returns the bytes the process allocated while f ran
// (runtime.MemStats.TotalAlloc): a server that held a message of n bytes
// allocated at least n. Run it from a test that is not parallel, so that
// other tests' allocations do not count.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
