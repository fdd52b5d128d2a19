package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// The demo's workflow and the file its file-log resource writes (as
// examples/workflow-http.json names it).
const (
	demoWorkflow = "workflow-http.json"
	demoFileLog  = "http-requests.log"
)

// demoHTTP sends requests to the node's http-ingress as a user would with
// curl, and prints each answer.
func demoHTTP(ctx context.Context, ingress string, step func(string, ...any), out io.Writer) error {
	if ingress == "" {
		return fmt.Errorf("the node has no http-ingress (resources.http_ingress_provider is empty)")
	}
	step("HTTP requests through the http-ingress resource -> web -> transformer (call) -> the answer:")
	client := &http.Client{Timeout: 30 * time.Second}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/greet", "hello edgeless"},
		{"GET", "/world", ""},
	} {
		curl := "curl -s " + ingress + r.path
		var body io.Reader
		if r.body != "" {
			curl = fmt.Sprintf("curl -s -d '%s' %s%s", r.body, ingress, r.path)
			body = strings.NewReader(r.body)
		}
		fmt.Fprintf(out, "    $ %s\n", curl)
		req, err := http.NewRequestWithContext(ctx, r.method, ingress+r.path, body)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s%s: %w", r.method, ingress, r.path, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s%s: read answer: %w", r.method, ingress, r.path, err)
		}
		fmt.Fprintf(out, "    HTTP %d: %s\n", resp.StatusCode, strings.TrimSpace(string(b)))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s%s answered %d, want 200", r.method, ingress, r.path, resp.StatusCode)
		}
	}
	return nil
}

// showFileLog prints what the file-log resource wrote.
func showFileLog(path string, step func(string, ...any), out io.Writer) error {
	// The web function casts its line before it answers; the line is
	// written once the cast is delivered, which is at once but not before
	// the answer: wait briefly for it.
	var data []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		data, err = os.ReadFile(path)
		if err == nil && len(data) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	step("Lines the file-log resource wrote to %s:", path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(data) == 0 {
		return fmt.Errorf("the file-log resource wrote nothing to %s", path)
	}
	for _, l := range lines {
		fmt.Fprintf(out, "    %s\n", l)
	}
	return nil
}
