package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// listen binds the host and port of a config URL (key names it in errors).
func listen(key, rawURL string) (net.Listener, error) {
	u, err := config.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(u.Addr, u.Port).String())
	if err != nil {
		return nil, fmt.Errorf("%s: cannot listen on %s: %w", key, rawURL, err)
	}
	return ln, nil
}

func boundAddr(ln net.Listener) netip.AddrPort {
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func httpURL(ap netip.AddrPort) string {
	return "http://" + netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

// announced returns the URL peers should dial for a server bound at bound:
// the configured URL (its port 0 replaced by the bound port), or else (with
// scheme, https when the server serves TLS) the
// bound IP, or, for an unspecified bind address, the first non-loopback
// IPv4 address of this host (as upstream).
func announced(key, configured, scheme string, bound netip.AddrPort) (string, error) {
	if configured != "" {
		u, err := config.ParseURL(configured)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		if u.Port == 0 {
			u.Port = bound.Port()
		}
		return u.String(), nil
	}
	ip := bound.Addr().Unmap()
	if ip.IsUnspecified() {
		a, err := firstNonLoopbackIPv4()
		if err != nil {
			return "", fmt.Errorf("%s is empty and the server binds %s: %w", key, ip, err)
		}
		ip = a
	}
	return scheme + "://" + netip.AddrPortFrom(ip, bound.Port()).String(), nil
}

func firstNonLoopbackIPv4() (netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list interface addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ip = ip.Unmap()
				if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
					return ip, nil
				}
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("no non-loopback IPv4 address on this host; set the announced URL")
}

// guestListener binds the GuestAPIHost server. An empty or unspecified host
// means the gateway of the function network netName (created if missing),
// which the node's containers reach. It returns the listener, the URL sent
// to containers, and how the address was chosen.
func guestListener(ctx context.Context, rawURL, netName string) (net.Listener, string, string, error) {
	const key = "container_runtime.guest_api_host_url"
	var (
		ip   netip.Addr
		port uint16
		how  string
	)
	if rawURL == "" {
		port, how = 0, "unset: function network gateway, free port"
	} else {
		u, err := config.ParseURL(rawURL)
		if err != nil {
			return nil, "", "", fmt.Errorf("%s: %w", key, err)
		}
		ip, port, how = u.Addr, u.Port, "as configured"
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		gctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := container.EnsureNetwork(gctx, netName)
		cancel()
		if err != nil {
			return nil, "", "", fmt.Errorf("%s: host %q means the gateway of network %s, which cannot be found (set an address of this host that containers can reach): %w", key, ip, netName, err)
		}
		ip = n.Gateway
		if how == "as configured" {
			how = "host 0.0.0.0: gateway of network " + netName
		}
	}
	if ip.IsLoopback() {
		return nil, "", "", fmt.Errorf("%s: containers cannot reach %s; use 0.0.0.0 for the function network's gateway", key, ip)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, port).String())
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: cannot listen on %s (is it an address of this host?): %w", key, netip.AddrPortFrom(ip, port), err)
	}
	return ln, httpURL(boundAddr(ln)), how, nil
}

// checkSchemes refuses https:// URLs that the TLS configuration cannot
// honour: a server URL without a server certificate (it would serve plain
// text under an https name) or the orchestrator's URL without a client
// config. Upstream silently speaks plain text there.
func checkSchemes(cfg *config.Config, tc *transport.TLS) error {
	g := cfg.General
	var errs []error
	for _, u := range []struct{ key, v string }{
		{"general.agent_url", g.AgentURL},
		{"general.agent_url_announced", g.AgentURLAnnounced},
		{"general.invocation_url", g.InvocationURL},
		{"general.invocation_url_announced", g.InvocationURLAnnounced},
		{"telemetry.metrics_url", cfg.Telemetry.MetricsURL},
	} {
		if strings.HasPrefix(u.v, "https:") && tc.ServerConfig().TLS == nil {
			errs = append(errs, fmt.Errorf("%s %q is https, but no TLS config gives this node a server certificate (set security.tls_config or --tls-config, with [server] server_cert_path and server_key_path)", u.key, u.v))
		}
	}
	if strings.HasPrefix(g.NodeRegisterURL, "https:") && tc.ClientConfig().TLS == nil {
		errs = append(errs, fmt.Errorf("general.node_register_url %q is https, but no TLS config has a [client] client_ca_path to check the orchestrator with (set security.tls_config or --tls-config)", g.NodeRegisterURL))
	}
	return errors.Join(errs...)
}
