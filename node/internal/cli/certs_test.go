package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/runtime/transport"
)

func runCerts(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(t.Output())
	root.SetArgs(append([]string{"certs"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// edgeless certs writes a domain whose tls_config files load: mutual TLS
// for node and orchestrator, a client-only one for the CLI; it refuses to
// overwrite without --force.
func TestCerts_WritesLoadableDomain(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tls")
	out, err := runCerts(t, "-o", dir, "--domain-name", "edge.example.org", "--host", "10.0.0.7")
	if err != nil {
		t.Fatalf("certs: %v", err)
	}
	if n := strings.Count(out, "wrote "); n != 11 {
		t.Errorf("certs wrote %d files, want 11:\n%s", n, out)
	}
	for _, role := range []string{"node", "orchestrator", "cli"} {
		tc, err := transport.LoadTLS(filepath.Join(dir, "tls_config_"+role+".toml"))
		if err != nil {
			t.Fatalf("LoadTLS(%s): %v", role, err)
		}
		if (tc.Server != nil) != (role != "cli") || tc.Client == nil || len(tc.Client.Certificates) != 1 {
			t.Errorf("%s: server %v, client %v: want a client with a certificate, and a server unless cli", role, tc.Server != nil, tc.Client != nil)
		}
		if tc.Client.ServerName != "edge.example.org" {
			t.Errorf("%s: domain_name %q, want edge.example.org", role, tc.Client.ServerName)
		}
		leaf := tc.Client.Certificates[0].Leaf
		if err := leaf.VerifyHostname("10.0.0.7"); err != nil {
			t.Errorf("%s certificate: %v, want valid for --host 10.0.0.7", role, err)
		}
	}
	if _, err := runCerts(t, "-o", dir); err == nil || !strings.Contains(err.Error(), "exists (overwrite it with --force)") {
		t.Errorf("certs again = %v, want a refusal to overwrite", err)
	}
	if _, err := runCerts(t, "-o", dir, "--force"); err != nil {
		t.Errorf("certs --force = %v", err)
	}
}
