package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeless-go/edgeless/node/internal/console"
)

func serve(t *testing.T) string {
	t.Helper()
	c, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestConsole_PagesAndAssets(t *testing.T) {
	t.Parallel()
	url := serve(t)
	resp, page := get(t, url+"/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'self'", csp)
	}
	if strings.Count(page, "<script") != strings.Count(page, `<script src="/assets/`) || regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Errorf("page has inline script:\n%s", page)
	}
	assets := regexp.MustCompile(`/assets/[a-z]+\.[0-9a-f]{12}\.(?:js|css)`).FindAllString(page, -1)
	if len(assets) != 2 {
		t.Fatalf("page names assets %q, want a hashed .js and .css", assets)
	}
	for _, a := range assets {
		resp, body := get(t, url+a)
		if resp.StatusCode != http.StatusOK || body == "" {
			t.Errorf("GET %s = %s", a, resp.Status)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("GET %s Cache-Control = %q, want a year, immutable", a, cc)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s without nosniff", a)
		}
	}
	if resp, _ := get(t, url+"/workflows/abc"); resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("GET /workflows/abc = %s, Cache-Control %q; want the page, revalidated", resp.Status, resp.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/assets/console.js", "/assets/console.000000000000.js", "/nothing"} {
		if resp, _ := get(t, url+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %s, want 404", p, resp.Status)
		}
	}
	resp, err := http.Post(url+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST / = %s, want 404 (the console takes no POST; actions go to /admin/v1/)", resp.Status)
	}
}

// The script puts data into the page as text only.
func TestConsole_ScriptWritesNoMarkup(t *testing.T) {
	t.Parallel()
	url := serve(t)
	_, page := get(t, url+"/")
	js := regexp.MustCompile(`/assets/console\.[0-9a-f]{12}\.js`).FindString(page)
	_, body := get(t, url+js)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(body, bad) {
			t.Errorf("console.js uses %s", bad)
		}
	}
}
