package adminapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Prefix is the path prefix of both admin JSON APIs.
const Prefix = "/admin/"

// RequireToken returns h with every request under Prefix refused with 401
// unless it carries "Authorization: Bearer <token>"; other paths (the gRPC
// services) pass unchanged. An empty token returns h: no token configured.
// It is for setups that terminate TLS in front of the node or orchestrator;
// with mutual TLS the handshake already refuses unknown clients.
func RequireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="edgeless admin"`)
				msg := "admin API: missing or wrong bearer token (give the CLI --admin-token or EDGELESS_ADMIN_TOKEN)"
				if len(got) == 0 {
					msg = "admin API: a bearer token is required (give the CLI --admin-token or EDGELESS_ADMIN_TOKEN)"
				}
				WriteError(w, http.StatusUnauthorized, errors.New(msg))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// WithToken returns a client that sends hc's requests with
// "Authorization: Bearer <token>" (hc itself for an empty token; nil hc is
// http.DefaultClient).
func WithToken(hc *http.Client, token string) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	if token == "" {
		return hc
	}
	c := *hc
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = bearer{rt: rt, value: "Bearer " + token}
	return &c
}

type bearer struct {
	rt    http.RoundTripper
	value string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", b.value)
	return b.rt.RoundTrip(r)
}
