package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"

	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/inabox"
)

// browserWait bounds one wait for the page (a bound for a broken system on
// a loaded machine, not a speed assertion).
const browserWait = 90 * time.Second

// startBrowser starts one headless Chromium for the test and returns its
// context; each subtest opens its own tab with newTab. Without Chromium
// the test skips, unless EDGELESS_REQUIRE_DOCKER=1 (CI) or
// EDGELESS_REQUIRE_BROWSER=1.
func startBrowser(t testing.TB) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("EDGELESS_REQUIRE_DOCKER") == "1" || os.Getenv("EDGELESS_REQUIRE_BROWSER") == "1" {
			t.Fatal("no Chromium on PATH (apt-get install chromium); required by EDGELESS_REQUIRE_DOCKER/EDGELESS_REQUIRE_BROWSER")
		}
		t.Skip("SKIP: no Chromium on PATH (apt-get install chromium): the console's browser tests do not run")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return bctx
}

// newTab opens a tab of the browser for one subtest.
func newTab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// do runs actions in the tab, bounded by browserWait, failing the test on
// error.
func do(t testing.TB, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](t testing.TB, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor evaluates a JavaScript predicate in the page every 100 ms until
// it is true (through navigations, which end a single evaluation), failing
// the test after browserWait with what the page shows.
func waitFor(t testing.TB, tab context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	var last error
	for {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	t.Fatalf("after %s, still not %s (%s; last error: %v); the page shows:\n%s", browserWait, what, expr, last, body)
}

// TestConsole_Browser drives the web console in a real Chromium against a
// real in-a-box domain running the example containers.
func TestConsole_Browser(t *testing.T) {
	dir := exampleImages(t)
	box := startBox(t)
	browser := startBrowser(t)
	url := box.ControllerURL
	admin := adminapi.Controller{BaseURL: url}

	t.Run("graph_counts_call_stop", func(t *testing.T) {
		id := startFile(t, url, filepath.Join(dir, "workflow.json"))
		tab := newTab(t, browser)
		do(t, tab, "open the workflow page", chromedp.Navigate(url+"/workflows/"+id))
		waitFor(t, tab, "3 function boxes and 2 arrows",
			`document.querySelectorAll('[data-function]').length === 3 && document.querySelectorAll('[data-edge]').length === 2`)
		edges := eval[[]string](t, tab, `[...document.querySelectorAll('[data-edge]')].map(e => e.dataset.edge).sort()`)
		if want := []string{"ticker:output:transformer", "transformer:output:sink"}; strings.Join(edges, " ") != strings.Join(want, " ") {
			t.Errorf("arrows = %q, want %q", edges, want)
		}

		// The orchestrator's lifecycle events: each function started.
		waitFor(t, tab, "three started events", `document.querySelectorAll('#lifecycle [data-event="started"]').length === 3`)

		// The sink's count grows while the page stays open (no reload: a
		// mark set on the window survives).
		do(t, tab, "mark the page", chromedp.Evaluate[chromedp.Void](`window.__sameLoad = true`))
		sinkCount := `Number(document.querySelector('[data-function="sink"] [data-events]').textContent)`
		waitFor(t, tab, "sink events counted", sinkCount+` > 0`)
		first := eval[int](t, tab, sinkCount)
		waitFor(t, tab, "sink count growing", fmt.Sprintf(`%s > %d`, sinkCount, first))
		// So does the count on the transformer→sink arrow (events the
		// transformer sent on its alias "output"), with its rate.
		arrowCount := `Number(document.querySelector('[data-edge="transformer:output:sink"] [data-events]').textContent)`
		waitFor(t, tab, "transformer→sink events counted", arrowCount+` > 0`)
		firstArrow := eval[int](t, tab, arrowCount)
		waitFor(t, tab, "transformer→sink count growing", fmt.Sprintf(`%s > %d`, arrowCount, firstArrow))
		waitFor(t, tab, "transformer→sink rate shown", `/\d\/s/.test(document.querySelector('[data-edge="transformer:output:sink"]').textContent)`)
		if !eval[bool](t, tab, `window.__sameLoad === true`) {
			t.Error("the page reloaded to update its counts")
		}

		// The domain page shows the node's events/s while the workflow runs.
		domain := newTab(t, browser)
		do(t, domain, "open the domain page", chromedp.Navigate(url+"/"))
		waitFor(t, domain, "the node's events/s above 0", `[...document.querySelectorAll('[data-node] [data-events-rate]')].some(e => Number(e.textContent) > 0)`)
		// Follow the sink's logs; the level filter hides what is below it.
		do(t, tab, "follow the logs", chromedp.Click("#log-follow"))
		waitFor(t, tab, "the sink's log lines", `document.querySelectorAll('#logs [data-level="info"]').length > 0`)
		do(t, tab, "show errors only",
			chromedp.SetValue("#log-level", "error"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#log-level').dispatchEvent(new Event('change'))`))
		if n := eval[int](t, tab, `document.querySelectorAll('#logs [data-level="info"]').length`); n != 0 {
			t.Errorf("%d info lines shown at level error, want 0", n)
		}
		do(t, tab, "show everything",
			chromedp.SetValue("#log-level", "debug"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#log-level').dispatchEvent(new Event('change'))`))
		waitFor(t, tab, "the sink's log lines again", `document.querySelectorAll('#logs [data-level="info"]').length > 0`)

		if p := os.Getenv("EDGELESS_CONSOLE_SCREENSHOT"); p != "" {
			ctx, cancel := context.WithTimeout(tab, browserWait)
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			cancel()
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", p)
		}

		// Call the sink from the page: the answer is its count.
		do(t, tab, "call sink",
			chromedp.SetValue("#function", "sink"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#function').dispatchEvent(new Event('change'))`),
			chromedp.SetValue("#payload", "count"),
			chromedp.Click("#call"))
		waitFor(t, tab, "the call's answer", `/^\d+$/.test((document.querySelector('#reply') || {}).textContent || '')`)

		// Stop from the page: the workflow leaves the list, its
		// containers leave Docker.
		do(t, tab, "stop", chromedp.Click("#stop"))
		waitFor(t, tab, "back on the domain page without the workflow",
			fmt.Sprintf(`location.pathname === '/' && document.querySelector('[data-workflow]') === null && document.body.innerText.includes('No workflow is running')`))
		wfs, err := admin.Workflows(t.Context())
		if err != nil || len(wfs) != 0 {
			t.Errorf("workflows after stop = %v, %v; want none", wfs, err)
		}
		if n := settledContainerCount(t, box, 0); n != 0 {
			t.Errorf("%d containers of the node after stop, want 0", n)
		}
	})

	t.Run("bad_workflow_file", func(t *testing.T) {
		tab := newTab(t, browser)
		bad := strings.Replace(readFile(t, filepath.Join(dir, "workflow.json")), `"output": "sink"`, `"output": "snk"`, 1)
		do(t, tab, "paste a bad workflow and start it",
			chromedp.Navigate(url+"/"),
			chromedp.SetValue("#workflow-file", bad),
			chromedp.Click("#start"))
		waitFor(t, tab, "the error", `document.querySelector('#start-output .error') !== null`)
		got := eval[string](t, tab, `document.querySelector('#start-output').textContent`)
		if want := `functions[1] "transformer".output_mapping[output]: unknown target "snk"`; !strings.Contains(got, want) {
			t.Errorf("start output = %q, want it to contain %q", got, want)
		}
	})

	t.Run("payload_is_text", func(t *testing.T) {
		const evil = `<img src=x onerror="document.title='pwned'">`
		wf := func(annotation string) string {
			return fmt.Sprintf(`{"functions": [{"name": "sink", "class_specification": {"id": "sink", "function_type": "CONTAINER",
				"version": "0.1", "code": "container:edgeless-example-sink:dev", "outputs": []},
				"output_mapping": {}, "annotations": {%q: %q}}], "resources": [], "annotations": {}}`, annotation, evil)
		}
		tab := newTab(t, browser)
		do(t, tab, "open the domain", chromedp.Navigate(url+"/"))
		waitFor(t, tab, "the domain page", `document.querySelector('[data-node]') !== null`)
		title := eval[string](t, tab, `document.title`)

		// The sink refuses this init-payload: its error, quoting the
		// payload, is shown as text.
		do(t, tab, "start with the init-payload",
			chromedp.SetValue("#workflow-file", wf("init-payload")),
			chromedp.Click("#start"))
		waitFor(t, tab, "the start's error", `document.querySelector('#start-output .error') !== null && !document.querySelector('#start').disabled`)
		// (The error quotes the payload Go-style: its own quotes escaped.)
		if got := eval[string](t, tab, `document.querySelector('#start-output').textContent`); !strings.Contains(got, `<img src=x onerror=`) {
			t.Errorf("start output = %q, want the payload %q as text", got, evil)
		}
		if n := eval[int](t, tab, `document.querySelectorAll('img').length`); n != 0 {
			t.Errorf("%d img elements in the page, want 0", n)
		}
		if got := eval[string](t, tab, `document.title`); got != title {
			t.Errorf("title = %q, want %q", got, title)
		}

		// A running function's annotations are shown as text too.
		do(t, tab, "start with the annotation",
			chromedp.SetValue("#workflow-file", wf("note")),
			chromedp.Click("#start"))
		waitFor(t, tab, "the started workflow's link", `document.querySelector('#start-output .ok a') !== null`)
		id := eval[string](t, tab, `document.querySelector('#start-output .ok a').textContent`)
		t.Cleanup(func() { _ = admin.StopWorkflow(context.Background(), id) })
		do(t, tab, "open the workflow", chromedp.Click("#start-output .ok a"))
		waitFor(t, tab, "the annotation shown", `document.querySelector('pre.annotations') !== null`)
		if got, want := eval[string](t, tab, `document.querySelector('pre.annotations').textContent`), "note="+evil; got != want {
			t.Errorf("annotation shown = %q, want %q", got, want)
		}
		if n := eval[int](t, tab, `document.querySelectorAll('img').length`); n != 0 {
			t.Errorf("%d img elements in the page, want 0", n)
		}
		if got := eval[string](t, tab, `document.title`); got != "Workflow "+id+" · EDGELESS console" {
			t.Errorf("title = %q, want the workflow's", got)
		}
		if err := admin.StopWorkflow(t.Context(), id); err != nil {
			t.Error(err)
		}
	})

	t.Run("cross_site_post_refused", func(t *testing.T) {
		id := startFile(t, url, filepath.Join(dir, "workflow.json"))
		t.Cleanup(func() { _ = admin.StopWorkflow(context.Background(), id) })
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<!doctype html><title>elsewhere</title>"))
		}))
		t.Cleanup(evil.Close)
		// localhost is another site than 127.0.0.1.
		tab := newTab(t, browser)
		do(t, tab, "open another site", chromedp.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)))
		stop := url + "/admin/v1/workflows/" + id + "/stop"
		ctx, cancel := context.WithTimeout(tab, browserWait)
		defer cancel()
		for _, js := range []string{
			// A "simple" request needs no preflight: only the server can refuse it.
			fmt.Sprintf(`fetch(%q, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"}).then(() => "sent", e => String(e))`, stop),
			fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => String(r.status), e => String(e))`, stop),
		} {
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
			t.Logf("%s -> %q, %v", js, got, err)
		}
		if _, err := admin.Workflow(t.Context(), id); err != nil {
			t.Fatalf("after cross-site POSTs, workflow %s: %v; want it still running", id, err)
		}
		// What the server answers such a request.
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, stop, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "http://localhost:1")
		resp, err := httpClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s = %s, want 403", stop, resp.Status)
		}
		if err := admin.StopWorkflow(t.Context(), id); err != nil {
			t.Error(err)
		}
	})

	t.Run("admin_token", func(t *testing.T) {
		const token = "console-test-token"
		cfg, stateDir, err := demoConfig()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(stateDir) })
		cfg.Node.Security.AdminToken = token
		ctx, cancel := context.WithCancel(context.Background())
		tokenBox, err := inabox.Start(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cancel()
			if err := tokenBox.Wait(); err != nil {
				t.Errorf("in-a-box shut down with: %v", err)
			}
		})
		tab := newTab(t, browser)
		do(t, tab, "open the domain", chromedp.Navigate(tokenBox.ControllerURL+"/"))
		waitFor(t, tab, "the token asked for", `document.querySelector('#admin-token') !== null`)
		if n := eval[int](t, tab, `document.querySelectorAll('[data-node]').length`); n != 0 {
			t.Errorf("%d nodes shown without the token, want 0", n)
		}
		do(t, tab, "give the token",
			chromedp.SetValue("#admin-token", token),
			chromedp.Click("#token-save"))
		waitFor(t, tab, "the node listed with the token", `document.querySelector('[data-node]') !== null && document.querySelector('#admin-token') === null`)
	})

	t.Run("phone_width", func(t *testing.T) {
		tab := newTab(t, browser)
		do(t, tab, "open the domain at phone width",
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(url+"/"))
		waitFor(t, tab, "the node listed with its CPU usage", `/CONTAINER.*\d+%/.test(document.querySelector('[data-node]')?.textContent || '')`)
		if w := eval[int](t, tab, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("page width at a 390 px viewport = %d px: it scrolls sideways", w)
		}
	})
}

// readFile returns a file's content.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
