package dataplane

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// Two data planes with mutual TLS deliver casts and calls to each other; a
// peer with another domain's certificate is refused at the handshake and
// its cast never reaches the receiver.
func TestPeers_MutualTLS(t *testing.T) {
	t.Parallel()
	dom, other := transporttest.Domain(t), transporttest.Domain(t)
	tc := transporttest.LoadTLS(t, dom, "node")
	d1, d2 := twoNodesWith(t, Config{Transport: tc.ClientConfig()}, Config{Transport: tc.ClientConfig()}, tc.ServerConfig())
	a, _ := instance(t, d1)
	b, rb := instance(t, d2)
	if err := a.CastRaw(t.Context(), b.ID(), []byte("over mTLS")); err != nil {
		t.Fatalf("CastRaw over mTLS: %v", err)
	}
	if got := rb.next(t); string(got.msg) != "over mTLS" {
		t.Errorf("delivered %q, want %q", got.msg, "over mTLS")
	}

	// A third node whose certificate another CA signed.
	stranger := newTestDataplane(t, Config{Transport: transporttest.LoadTLS(t, other, "node").ClientConfig()})
	if err := stranger.AddPeer(d2.NodeID(), d1.Peers()[d2.NodeID()]); err != nil {
		t.Fatal(err)
	}
	s, _ := instance(t, stranger)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := s.CastRaw(ctx, b.ID(), []byte("forged"))
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("CastRaw from another domain = %v, want a certificate error", err)
	}
	select {
	case got := <-rb.casts:
		t.Errorf("receiver got %q from another domain", got.msg)
	case <-time.After(100 * time.Millisecond):
	}
	// The refusal is counted (grpc-go alone would not even log it); the
	// client may have tried more than once.
	strangers := handshakeFailures(d2, 0)
	if strangers == 0 {
		t.Error("Stats().TLSHandshakeFailures = 0 after a certificate of another CA, want > 0")
	}

	// A node that trusts the domain's CA but shows no certificate: the
	// server (grpc-go, as the node serves it) refuses it at the handshake
	// (the client's error varies: the alert, or a broken pipe when the
	// server closes first).
	anon := tc.ClientConfig()
	anon.TLS = anon.TLS.Clone()
	anon.TLS.Certificates, anon.TLS.GetClientCertificate = nil, nil
	nocert := newTestDataplane(t, Config{Transport: anon})
	if err := nocert.AddPeer(d2.NodeID(), d1.Peers()[d2.NodeID()]); err != nil {
		t.Fatal(err)
	}
	n, _ := instance(t, nocert)
	err = n.CastRaw(ctx, b.ID(), []byte("anonymous"))
	if err == nil {
		t.Error("CastRaw without a client certificate succeeded, want a refusal at the handshake")
	}
	select {
	case got := <-rb.casts:
		t.Errorf("receiver got %q from a client without a certificate", got.msg)
	case <-time.After(100 * time.Millisecond):
	}
	if n := handshakeFailures(d2, strangers); n <= strangers {
		t.Errorf("Stats().TLSHandshakeFailures = %d after a client without a certificate, want more than %d", n, strangers)
	}
	if s := d1.Stats(); s.TLSHandshakeFailures != 0 {
		t.Errorf("Stats().TLSHandshakeFailures of the node nobody failed at = %d, want 0", s.TLSHandshakeFailures)
	}
	if s := d2.Stats(); s.EventsRejected != 0 {
		t.Errorf("Stats().EventsRejected = %d, want 0 (refused before any event)", s.EventsRejected)
	}
}

// handshakeFailures returns d's count of failed TLS handshakes once it is
// above over, or after waitTimeout (the server may see the client's alert
// after the client has given up).
func handshakeFailures(d *Dataplane, over uint64) uint64 {
	deadline := time.Now().Add(waitTimeout)
	for {
		n := d.Stats().TLSHandshakeFailures
		if n > over || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkRemoteCastTLS measures a cast from an instance on one node to an
// instance on another with mutual TLS between the nodes, and reports it as
// a ratio ("x-plain") to the same cast in plain text measured in the same
// run. Peer connections are reused, so the handshake stays off the hot
// path.
func BenchmarkRemoteCastTLS(b *testing.B) {
	dom := transporttest.Domain(b)
	tc := transporttest.LoadTLS(b, dom, "node")
	cast := func(d1, d2 *Dataplane) func() {
		a := d1.Register(contract.InstanceID{NodeID: d1.NodeID(), FunctionID: "6d1b3c2a-0000-4000-8000-00000000000a"})
		a.Attach(newFakeReceiver())
		dst := d2.Register(contract.InstanceID{NodeID: d2.NodeID(), FunctionID: "6d1b3c2a-0000-4000-8000-00000000000b"})
		r := newFakeReceiver()
		dst.Attach(r)
		return func() {
			if err := a.CastRaw(context.Background(), dst.ID(), []byte("payload")); err != nil {
				b.Fatal(err)
			}
			<-r.casts
		}
	}
	secure := cast(twoNodesWith(b, Config{Transport: tc.ClientConfig()}, Config{Transport: tc.ClientConfig()}, tc.ServerConfig()))
	plain := cast(twoNodes(b, Config{}, Config{}))
	secure() // the handshake, before the timed loop
	plain()
	n := 0
	for b.Loop() {
		secure()
		n++
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(n)
	start := time.Now()
	for range n {
		plain()
	}
	floor := float64(time.Since(start).Nanoseconds()) / float64(n)
	b.ReportMetric(perOp/floor, "x-plain")
	b.ReportMetric(floor, "plain-ns/op")
}
