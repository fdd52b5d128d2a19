package guest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// The tests in this file read the HTTP/2 frames of the function's links to
// its node: the SDK fixes their flow-control windows at 1 MiB, per stream
// and per connection (as the node's side does), so that grpc-go sends no
// bandwidth-delay-estimate PING when it receives DATA (with dynamic
// windows it sends one with the first DATA after each PING's answer: the
// node would read and answer one with nearly every event).

// localWindow is the fixed window of the SDK's links (localWindowBytes).
const localWindow = 1 << 20

// defaultWindow is HTTP/2's initial window, per stream and per connection.
const defaultWindow = 65535

// windowEvents sets the number of events each test sends:
// TestServe_FixedWindows sends as many Casts and as many Calls,
// TestHost_FixedWindows twice as many Host.Casts. With dynamic windows,
// grpc-go's server sends a PING ahead of each answer (12 with Boot and
// Init), its client one after each answer, read before the next request
// (9 with 10 Host.Casts).
const windowEvents = 5

// frameGuard bounds a test's reads and writes of frames: a guard against
// a hang, not a measurement.
const frameGuard = 30 * time.Second

// framedMessage returns the gRPC framing of m followed by m.
func framedMessage(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(b))) // flag 0: uncompressed
	return append(out, b...)
}

// unframeMessage decodes the one gRPC message of a response body into m.
func unframeMessage(body []byte, m proto.Message) error {
	if len(body) < 5 {
		return fmt.Errorf("a response body of %d bytes, want a gRPC message (5 bytes or more)", len(body))
	}
	if body[0] != 0 {
		return fmt.Errorf("a compressed response message (flag %d)", body[0])
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if int(n) != len(body)-5 {
		return fmt.Errorf("a response body of %d bytes with a message of %d", len(body), n)
	}
	return proto.Unmarshal(body[5:], m)
}

// windows is what one side of an HTTP/2 connection advertised and sent.
type windows struct {
	// streamWindow is the SETTINGS_INITIAL_WINDOW_SIZE of the peer's
	// first SETTINGS frame (defaultWindow if it sent none).
	streamWindow uint32
	// laterStreamWindows are the SETTINGS_INITIAL_WINDOW_SIZE values of
	// its later SETTINGS frames (grpc-go's dynamic windows send one when
	// their estimate grows).
	laterStreamWindows []uint32
	// connWindow is the connection window it opened before its first
	// request or answer: defaultWindow plus its WINDOW_UPDATEs of
	// stream 0.
	connWindow int64
	// pings is the number of PING frames it sent (ACKs not counted).
	pings int
	// settingsFrames counts its SETTINGS frames (ACKs not counted).
	settingsFrames int
}

// settingsFrame records a SETTINGS frame (not an ACK).
func (w *windows) settingsFrame(f *http2.SettingsFrame) {
	w.settingsFrames++
	v, ok := f.Value(http2.SettingInitialWindowSize)
	switch {
	case w.settingsFrames == 1 && ok:
		w.streamWindow = v
	case w.settingsFrames == 1:
		w.streamWindow = defaultWindow
	case ok:
		w.laterStreamWindows = append(w.laterStreamWindows, v)
	}
}

// check fails the test unless the peer (what) fixed both windows at
// localWindow and sent no PING.
func (w *windows) check(t *testing.T, what string) {
	t.Helper()
	if w.settingsFrames == 0 {
		t.Fatalf("%s sent no SETTINGS", what)
	}
	t.Logf("%s: stream window %d, later %v; connection window %d; %d PINGs", what, w.streamWindow, w.laterStreamWindows, w.connWindow, w.pings)
	if w.pings != 0 {
		t.Errorf("%s sent %d PING frames, want none (windows sized by a bandwidth-delay estimate?)", what, w.pings)
	}
	if w.streamWindow != localWindow {
		t.Errorf("%s advertised a stream window (SETTINGS_INITIAL_WINDOW_SIZE) of %d, want %d", what, w.streamWindow, localWindow)
	}
	if len(w.laterStreamWindows) != 0 {
		t.Errorf("%s changed its stream window later to %v, want it fixed at %d", what, w.laterStreamWindows, localWindow)
	}
	if w.connWindow != localWindow {
		t.Errorf("%s opened a connection window of %d before its first stream, want %d", what, w.connWindow, localWindow)
	}
}

// rawClient is an HTTP/2 client on the Framer, for one h2c connection to
// the SDK's server: it sends unary gRPC requests one at a time and records
// every frame the server sends.
type rawClient struct {
	t      *testing.T
	addr   string
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	stream uint32 // of the latest request
	server windows
}

// dialRaw opens an h2c connection to addr (host:port), sends the preface
// and empty SETTINGS, and reads the server's frames up to its ACK of them:
// its own SETTINGS and connection WINDOW_UPDATE come before (grpc-go writes
// them before it reads anything).
func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(frameGuard)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, addr: addr, fr: http2.NewFramer(conn, conn)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.server.connWindow = defaultWindow
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for acked := false; !acked; {
		f := c.readFrame()
		switch f := f.(type) {
		case *http2.SettingsFrame:
			acked = f.IsAck()
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				c.server.connWindow += int64(f.Increment)
			}
		}
	}
	return c
}

// readFrame reads the next frame and answers what needs an answer: it
// records and acknowledges the server's SETTINGS and PINGs (acknowledged,
// a grpc-go server with dynamic windows sends the next PING with the next
// DATA it receives). A GOAWAY fails the test.
func (c *rawClient) readFrame() http2.Frame {
	c.t.Helper()
	f, err := c.fr.ReadFrame()
	if err != nil {
		c.t.Fatalf("reading the server's frames: %v", err)
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			c.server.settingsFrame(f)
			if err := c.fr.WriteSettingsAck(); err != nil {
				c.t.Fatal(err)
			}
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			c.server.pings++
			if err := c.fr.WritePing(true, f.Data); err != nil {
				c.t.Fatal(err)
			}
		}
	case *http2.GoAwayFrame:
		c.t.Fatalf("the server sent GOAWAY %v: %q", f.ErrCode, f.DebugData())
	}
	return f
}

// call sends req to GuestAPIFunction's method on a new stream (see
// callPath).
func (c *rawClient) call(method string, req, res proto.Message) {
	c.t.Helper()
	c.callPath("/edgeless_api.GuestAPIFunction/"+method, req, res)
}

// callPath sends req to the method at path on a new stream, reads every
// frame up to the response's trailers and decodes the response message
// into res. It fails the test unless the call succeeded.
func (c *rawClient) callPath(method string, req, res proto.Message) {
	c.t.Helper()
	if c.stream == 0 {
		c.stream = 1
	} else {
		c.stream += 2
	}
	c.encBuf.Reset()
	for _, hf := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: c.addr},
		{Name: ":path", Value: method},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	} {
		if err := c.enc.WriteField(hf); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: c.stream, BlockFragment: c.encBuf.Bytes(), EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
	if err := c.fr.WriteData(c.stream, true, framedMessage(c.t, req)); err != nil {
		c.t.Fatal(err)
	}
	var body []byte
	for {
		switch f := c.readFrame().(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID == c.stream {
				c.t.Fatalf("%s: the server reset the stream with %v", method, f.ErrCode)
			}
		case *http2.DataFrame:
			if f.StreamID == c.stream {
				body = append(body, f.Data()...)
			}
			if n := f.Length; n > 0 {
				// Return the connection's credit (the stream ends
				// with the response).
				if err := c.fr.WriteWindowUpdate(0, n); err != nil {
					c.t.Fatal(err)
				}
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != c.stream {
				continue
			}
			if s := f.PseudoValue("status"); s != "" && s != "200" {
				c.t.Fatalf("%s: HTTP status %s", method, s)
			}
			if !f.StreamEnded() {
				continue // the response headers
			}
			if s := headerValue(f, "grpc-status"); s != "0" {
				c.t.Fatalf("%s: grpc-status %q (%s), want 0", method, s, headerValue(f, "grpc-message"))
			}
			if err := unframeMessage(body, res); err != nil {
				c.t.Fatalf("%s: %v", method, err)
			}
			return
		}
	}
}

// TestServe_FixedWindows: the SDK's gRPC server (what a node dials) opens
// 1 MiB windows, per stream and per connection, and keeps them: it answers
// Boot, Init and a series of Casts and Calls on one connection without a
// PING (with grpc-go's dynamic windows it sends one ahead of every answer
// here, and the node must read and answer each).
func TestServe_FixedWindows(t *testing.T) {
	t.Parallel()
	host := guesttest.NewHost(t)
	fn := &recorder{}
	_, url := guesttest.StartServer(t, fn, testOptions(t))
	c := dialRaw(t, strings.TrimPrefix(url, "http://"))

	c.call("Boot", guesttest.BootData(host), &emptypb.Empty{})
	c.call("Init", &edgelessapi.FunctionInstanceInit{InitPayload: "windows"}, &emptypb.Empty{})
	for i := range windowEvents {
		msg := fmt.Sprintf("event %d", i)
		c.call("Cast", event(msg), &emptypb.Empty{})
		var res edgelessapi.CallReturn
		c.call("Call", event(msg), &res)
		if res.GetType() != edgelessapi.CallRetType_CALL_RET_REPLY || string(res.GetMsg()) != msg {
			t.Fatalf("Call(%q) = %v %q, want CALL_RET_REPLY %q", msg, res.GetType(), res.GetMsg(), msg)
		}
	}
	fn.mu.Lock()
	casts := len(fn.casts)
	fn.mu.Unlock()
	if casts != windowEvents {
		t.Fatalf("the function got %d Casts, want %d", casts, windowEvents)
	}
	c.server.check(t, "the SDK's server")
}

// rawHost is a GuestAPIHost server on the Framer over a real listener: it
// answers Cast (and nothing else) and records every frame its clients
// send. Each of its clients' requests is answered before the next frame
// is read, so whatever a client sent before a request has been recorded
// when that request's answer arrives.
type rawHost struct {
	ln net.Listener

	mu     sync.Mutex
	conns  int
	client windows // of the first connection
	casts  []*edgelessapi.OutputEventData
	errs   []error // protocol errors of the clients
}

// newRawHost starts a rawHost on a 127.0.0.1 port; t.Cleanup stops it and
// waits for its goroutines.
func newRawHost(t *testing.T) *rawHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &rawHost{ln: ln}
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, conn)
			connsMu.Unlock()
			wg.Go(func() { h.serveConn(conn) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	return h
}

// URL is the GuestAPIHost endpoint to send in Boot.
func (h *rawHost) URL() string { return "http://" + h.ln.Addr().String() }

func (h *rawHost) fail(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

// serveConn serves one client connection until it ends.
func (h *rawHost) serveConn(conn net.Conn) {
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(frameGuard)); err != nil {
		h.fail(err)
		return
	}
	h.mu.Lock()
	h.conns++
	first := h.conns == 1
	h.mu.Unlock()
	// rec records what the client sent (the first connection only: a
	// second would be a reconnection, counted in conns).
	rec := func(f func(w *windows)) {
		if first {
			h.mu.Lock()
			f(&h.client)
			h.mu.Unlock()
		}
	}
	rec(func(w *windows) { w.connWindow = defaultWindow })

	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, preface); err != nil {
		return // a connection that ended at once: nothing to serve
	}
	if string(preface) != http2.ClientPreface {
		h.fail(fmt.Errorf("a client preface of %q", preface))
		return
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var encBuf bytes.Buffer
	enc := hpack.NewEncoder(&encBuf)
	if err := fr.WriteSettings(); err != nil {
		h.fail(err)
		return
	}
	paths := map[uint32]string{}
	bodies := map[uint32][]byte{}
	requested := false // a request has arrived
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				h.fail(fmt.Errorf("reading the client's frames: %w", err))
			}
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			rec(func(w *windows) { w.settingsFrame(f) })
			err = fr.WriteSettingsAck()
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 && !requested {
				rec(func(w *windows) { w.connWindow += int64(f.Increment) })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				rec(func(w *windows) { w.pings++ })
				err = fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			return
		case *http2.MetaHeadersFrame:
			requested = true
			paths[f.StreamID] = f.PseudoValue("path")
			if f.StreamEnded() {
				err = h.answer(fr, enc, &encBuf, f.StreamID, paths[f.StreamID], nil)
			}
		case *http2.DataFrame:
			bodies[f.StreamID] = append(bodies[f.StreamID], f.Data()...)
			if n := f.Length; n > 0 {
				// Return the connection's credit (the stream ends
				// with this request).
				err = fr.WriteWindowUpdate(0, n)
			}
			if err == nil && f.StreamEnded() {
				err = h.answer(fr, enc, &encBuf, f.StreamID, paths[f.StreamID], bodies[f.StreamID])
				delete(paths, f.StreamID)
				delete(bodies, f.StreamID)
			}
		}
		if err != nil {
			h.fail(err)
			return
		}
	}
}

// answer writes the answer to a request: Cast, with an OutputEventData,
// gets response headers, an Empty and grpc-status 0; anything else only
// trailers with an error status.
func (h *rawHost) answer(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, stream uint32, path string, body []byte) error {
	headers := func(end bool, fields ...hpack.HeaderField) error {
		buf.Reset()
		for _, hf := range fields {
			if err := enc.WriteField(hf); err != nil {
				return err
			}
		}
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: end})
	}
	status := hpack.HeaderField{Name: ":status", Value: "200"}
	contentType := hpack.HeaderField{Name: "content-type", Value: "application/grpc"}
	var req edgelessapi.OutputEventData
	if path != "/edgeless_api.GuestAPIHost/Cast" {
		return headers(true, status, contentType,
			hpack.HeaderField{Name: "grpc-status", Value: "12"}, // UNIMPLEMENTED
			hpack.HeaderField{Name: "grpc-message", Value: "the raw host answers Cast only"})
	}
	if err := unframeMessage(body, &req); err != nil {
		return headers(true, status, contentType,
			hpack.HeaderField{Name: "grpc-status", Value: "3"}, // INVALID_ARGUMENT
			hpack.HeaderField{Name: "grpc-message", Value: err.Error()})
	}
	h.mu.Lock()
	h.casts = append(h.casts, &req)
	h.mu.Unlock()
	if err := headers(false, status, contentType); err != nil {
		return err
	}
	if err := fr.WriteData(stream, false, []byte{0, 0, 0, 0, 0}); err != nil { // an empty message
		return err
	}
	return headers(true, hpack.HeaderField{Name: "grpc-status", Value: "0"})
}

// TestHost_FixedWindows: the SDK's GuestAPIHost client opens 1 MiB
// windows, per stream and per connection, and keeps them: a series of
// Host.Casts, each answered with DATA, brings no PING (grpc-go's dynamic
// windows send one with the first DATA after each PING's answer).
func TestHost_FixedWindows(t *testing.T) {
	t.Parallel()
	host := newRawHost(t)
	fn := &recorder{}
	_, url := guesttest.StartServer(t, fn, testOptions(t))
	c := guesttest.NewClient(t, "grpc-go", url)
	id := guesttest.NewID()
	if _, err := c.Boot(t.Context(), &edgelessapi.BootData{GuestApiHostEndpoint: host.URL(), InstanceId: id}); err != nil {
		t.Fatalf("Boot() error = %v", err)
	}
	if _, err := c.Init(t.Context(), &edgelessapi.FunctionInstanceInit{}); err != nil {
		t.Fatalf("Init() error = %v", err)
	}
	h := fn.Host()
	for i := range 2 * windowEvents {
		if err := h.Cast(t.Context(), fmt.Sprintf("alias-%d", i), []byte("windows")); err != nil {
			t.Fatalf("Host.Cast #%d: %v", i, err)
		}
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	for _, err := range host.errs {
		t.Errorf("raw host: %v", err)
	}
	if host.conns != 1 {
		t.Errorf("the host client opened %d connections, want 1", host.conns)
	}
	if len(host.casts) != 2*windowEvents {
		t.Fatalf("the raw host answered %d Casts, want %d", len(host.casts), 2*windowEvents)
	}
	for i, req := range host.casts {
		want := &edgelessapi.OutputEventData{Originator: id, Alias: fmt.Sprintf("alias-%d", i), Msg: []byte("windows")}
		if !proto.Equal(req, want) {
			t.Errorf("Cast #%d reached the host as %v, want %v", i, req, want)
		}
	}
	host.client.check(t, "the SDK's host client")
}

// TestRawFrames_SeeDynamicWindows: the frame readers of the tests above
// see what they look for. A grpc-go server and client with default
// options (dynamic windows) keep 64 KiB windows and send PINGs to the raw
// client and the raw host, so a grpc-go release that stopped sending
// them, or a reader that missed them, would show here, not as a
// FixedWindows test that passes whatever the SDK does.
func TestRawFrames_SeeDynamicWindows(t *testing.T) {
	t.Parallel()
	dynamic := func(t *testing.T, what string, w windows) {
		t.Helper()
		t.Logf("%s: stream window %d, later %v; connection window %d; %d PINGs", what, w.streamWindow, w.laterStreamWindows, w.connWindow, w.pings)
		if w.pings == 0 || w.streamWindow != defaultWindow || w.connWindow != defaultWindow {
			t.Errorf("%s: %d PINGs, stream window %d, connection window %d, want PINGs and windows of %d", what, w.pings, w.streamWindow, w.connWindow, defaultWindow)
		}
	}
	t.Run("server", func(t *testing.T) {
		t.Parallel()
		// guesttest's grpc-go host has grpc-go's default windows.
		host := guesttest.NewGRPCHost(t)
		c := dialRaw(t, strings.TrimPrefix(host.URL, "http://"))
		for i := range windowEvents {
			c.callPath("/edgeless_api.GuestAPIHost/Cast", &edgelessapi.OutputEventData{Originator: guesttest.NewID(), Alias: fmt.Sprintf("alias-%d", i)}, &emptypb.Empty{})
		}
		dynamic(t, "grpc-go's server", c.server)
	})
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		host := newRawHost(t)
		conn, err := grpc.NewClient("passthrough:///"+host.ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		client := edgelessapi.NewGuestAPIHostClient(conn)
		for i := range windowEvents {
			if _, err := client.Cast(t.Context(), &edgelessapi.OutputEventData{Alias: fmt.Sprintf("alias-%d", i)}); err != nil {
				t.Fatalf("Cast #%d: %v", i, err)
			}
		}
		host.mu.Lock()
		defer host.mu.Unlock()
		for _, err := range host.errs {
			t.Errorf("raw host: %v", err)
		}
		dynamic(t, "grpc-go's client", host.client)
	})
}
