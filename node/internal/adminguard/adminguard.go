// Package adminguard keeps web pages from driving the JSON admin APIs of
// the orchestrator and the node: a browser visiting any site can send a
// "simple" cross-site POST to 127.0.0.1, or reach it under an attacker's
// host name through DNS rebinding. The admin APIs are meant for the CLI and
// scripts, which these checks do not hinder.
package adminguard

import (
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Media types a request body may have.
const (
	JSON        = "application/json"
	OctetStream = "application/octet-stream"
)

// Handler returns h guarded for an admin API:
//
//   - a request with a body-carrying method (POST, PUT, PATCH, DELETE) must
//     declare one of bodyTypes as its Content-Type, else 415: the types a
//     page can send cross-site without a CORS preflight (text/plain, form
//     encodings) are never among them;
//   - a cross-origin browser request that may change state (Sec-Fetch-Site,
//     or Origin against Host) is 403 (http.CrossOriginProtection);
//   - on a connection to a loopback address, the Host header must name a
//     loopback address or "localhost", else 403: a page under another
//     name resolving to 127.0.0.1 (DNS rebinding) is refused, reads too.
//
// Refusals are {"error": "..."} naming what is wrong.
func Handler(h http.Handler, bodyTypes ...string) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deny(w, http.StatusForbidden, fmt.Sprintf("cross-origin request refused (Origin %q, Sec-Fetch-Site %q)",
			contract.Shorten(r.Header.Get("Origin")), contract.Shorten(r.Header.Get("Sec-Fetch-Site"))))
	}))
	guarded := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loopbackConn(r) && !loopbackHost(r.Host) {
			deny(w, http.StatusForbidden, fmt.Sprintf("host %q refused: this API is bound to a loopback address; use 127.0.0.1 or localhost", contract.Shorten(r.Host)))
			return
		}
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || !slices.Contains(bodyTypes, mt) {
				deny(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q refused: want %s",
					contract.Shorten(r.Header.Get("Content-Type")), strings.Join(bodyTypes, " or ")))
				return
			}
		}
		guarded.ServeHTTP(w, r)
	})
}

// loopbackConn reports whether r came in on a loopback address.
func loopbackConn(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// loopbackHost reports whether a Host header names this machine by a
// loopback address or "localhost".
func loopbackHost(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

func deny(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
