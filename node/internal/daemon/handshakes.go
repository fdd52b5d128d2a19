package daemon

import (
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/lograte"
)

// handshakeFailures counts and logs (at most once per lograte.Every per
// server, with the count) the TLS handshakes that fail on the agent and
// metrics ports: a client without a certificate of the domain's CA, a
// plain-text client, a handshake not done in time.
type handshakeFailures struct {
	agent, metrics atomic.Uint64
	rated          lograte.Keyed
}

// reporter returns the transport.Config.HandshakeFailed of server name
// ("agent" or "metrics").
func (h *handshakeFailures) reporter(name string, log *slog.Logger) func(net.Addr, error) {
	n := &h.agent
	if name == "metrics" {
		n = &h.metrics
	}
	return func(remote net.Addr, err error) {
		n.Add(1)
		if due, count := h.rated.Note(name, time.Now()); due {
			log.Warn("TLS handshake failed on the "+name+" port", "peer", remote.String(), "err", err,
				"handshakes", count, "next_line_in", lograte.Every)
		}
	}
}

func (h *handshakeFailures) export(m *telemetry.Metrics) {
	m.CounterFunc("agent_tls_handshake_failures_total",
		"TLS handshakes that failed on the agent port (client certificate missing or of another CA, plain text).",
		func() float64 { return float64(h.agent.Load()) })
	m.CounterFunc("metrics_tls_handshake_failures_total",
		"TLS handshakes that failed on the metrics port (client certificate missing or of another CA, plain text).",
		func() float64 { return float64(h.metrics.Load()) })
}
