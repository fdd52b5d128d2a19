package guest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ParseHostEndpoint parses BootData.guest_api_host_endpoint, a URL such as
// "http://172.17.0.1:7100", "http://172.17.0.1:7100/" or "http://[fd00::1]:7100",
// and returns the base URL to dial ("http://host:port") and the "host:port"
// address. The scheme must be http (the guest API is plain-text HTTP/2) and
// the port must be explicit; a path other than "/", a query, a fragment or
// user information are errors. Every error names the value.
func ParseHostEndpoint(endpoint string) (baseURL, addr string, err error) {
	return parseEndpoint("guest API host endpoint", endpoint)
}

// parseEndpoint parses an http://host:port URL; what names it in errors.
func parseEndpoint(what, endpoint string) (baseURL, addr string, err error) {
	if endpoint == "" {
		return "", "", fmt.Errorf("%s is empty, want http://host:port", what)
	}
	if !strings.Contains(endpoint, "://") {
		return "", "", fmt.Errorf("%s %q has no scheme, want http://host:port", what, endpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", fmt.Errorf("%s %q: %w", what, endpoint, err)
	}
	switch {
	case u.Scheme != "http":
		return "", "", fmt.Errorf("%s %q: scheme %q is not supported, want http", what, endpoint, u.Scheme)
	case u.User != nil:
		return "", "", fmt.Errorf("%s %q: user information is not supported", what, endpoint)
	case u.Path != "" && u.Path != "/":
		return "", "", fmt.Errorf("%s %q: path %q is not supported", what, endpoint, u.Path)
	case u.RawQuery != "" || u.ForceQuery:
		return "", "", fmt.Errorf("%s %q: a query is not supported", what, endpoint)
	case u.Fragment != "":
		return "", "", fmt.Errorf("%s %q: a fragment is not supported", what, endpoint)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", "", fmt.Errorf("%s %q has no host", what, endpoint)
	}
	if port == "" {
		return "", "", fmt.Errorf("%s %q has no port, want http://host:port", what, endpoint)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", "", fmt.Errorf("%s %q: port %q is not in 1-65535", what, endpoint, port)
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		return "", "", fmt.Errorf("%s %q: an IPv6 address must be in brackets", what, endpoint)
	}
	addr = net.JoinHostPort(host, port)
	return "http://" + addr, addr, nil
}
