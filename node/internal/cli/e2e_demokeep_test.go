package cli

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// syncBuffer is a strings.Builder safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestE2E_DemoKeep: with --keep the demo prints the console's URL and
// keeps the box and the workflow up until it is interrupted, then cleans
// up as always.
func TestE2E_DemoKeep(t *testing.T) {
	t.Parallel()
	dir := exampleImages(t)
	var out syncBuffer
	root := NewRootCommand()
	root.SetOut(&out)
	root.SetErr(t.Output())
	root.SetArgs([]string{"demo", "--no-build", "--keep", "--duration", "1s", "--examples", dir})
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	keep := regexp.MustCompile(`Keeping the box up; web console: (http://127\.0\.0\.1:\d+)/workflows/([0-9a-f-]+)\.`)
	var m []string
	eventually(t, "the demo keeps the box up", func() bool {
		select {
		case err := <-done:
			t.Fatalf("demo ended before it was interrupted: %v\n%s", err, out.String())
		default:
		}
		m = keep.FindStringSubmatch(out.String())
		return m != nil
	})
	url, id := m[1], m[2]
	resp, err := httpClient(t).Get(url + "/workflows/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET the console's workflow page = %s %s, want the page", resp.Status, resp.Header.Get("Content-Type"))
	}
	if _, err := (adminapi.Controller{BaseURL: url}).Workflow(t.Context(), id); err != nil {
		t.Errorf("workflow %s while kept: %v", id, err)
	}
	interrupt() // Ctrl-C
	if err := <-done; err != nil {
		t.Errorf("demo after the interrupt: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "==> No container left behind") {
		t.Errorf("demo output after the interrupt lacks the clean-up:\n%s", out.String())
	}
}
