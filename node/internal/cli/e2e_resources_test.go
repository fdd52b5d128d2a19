package cli

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestE2E_HTTPIngressThroughContainers sends real HTTP requests to the
// node's http-ingress; they go through the web and transformer containers
// and come back as HTTP answers, and the file-log resource has a line for
// each once the workflow has stopped.
func TestE2E_HTTPIngressThroughContainers(t *testing.T) {
	t.Parallel()
	dir := exampleImages(t)
	box, cfg := startBoxConfig(t)
	url := box.ControllerURL
	id := startFile(t, url, filepath.Join(dir, demoWorkflow))
	ingress := box.Node.HTTPIngress

	hc := httpClient(t)
	post := func(client *http.Client, path, body string) (int, string, http.Header, error) {
		resp, err := client.Post(ingress+path, "text/plain", strings.NewReader(body))
		if err != nil {
			return 0, "", nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header, err
	}
	status, body, h, err := post(hc, "/one", "ping")
	if err != nil || status != 200 || body != "PING\n" || h.Get("X-Edgeless-Function") != "web" {
		t.Fatalf("POST /one = %d %q %v %v, want 200 \"PING\\n\" from web", status, body, h, err)
	}

	const n = 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			status, body, _, err := post(client, fmt.Sprintf("/c/%d", i), fmt.Sprintf("req-%d", i))
			if want := fmt.Sprintf("REQ-%d\n", i); err != nil || status != 200 || body != want {
				errs <- fmt.Errorf("request %d = %d %q %v, want 200 %q", i, status, body, err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// The workflow lists its resources too, and inspect still works.
	v := inspect(t, url, id)
	states := map[string]string{}
	for _, f := range v.Functions {
		states[f.Name] = f.State + " " + f.Image
	}
	if states["http-in"] != "resource http-ingress" || states["http-log"] != "resource file-log" || states["web"] != "running "+ExampleTag("web") {
		t.Errorf("inspect lists %q, want the functions running and the resources http-in, http-log", states)
	}
	mustCLI(t, url, "workflow", "stop", id)
	if status, _, _, err := post(hc, "/late", "x"); err != nil || status != http.StatusNotFound {
		t.Errorf("POST after the workflow stopped = %d, %v; want 404", status, err)
	}

	data, err := os.ReadFile(filepath.Join(cfg.Node.Resources.FileLogDir, demoFileLog))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != n+1 || !strings.HasSuffix(lines[0], `Post /one "ping" -> "PING"`) {
		t.Errorf("file-log has %d lines, first %q; want %d, the first for /one", len(lines), lines[0], n+1)
	}
	for i := range n {
		if !strings.Contains(string(data), fmt.Sprintf(`Post /c/%d "req-%d" -> "REQ-%d"`, i, i, i)) {
			t.Errorf("file-log lacks the line of request %d", i)
			break
		}
	}
}

// upstreamPythonWorkflow has the shape of upstream's
// examples/container/workflow-python.json: a RUST_WASM function whose
// module is read relative to the file, a container function on image
// python-function:latest, and a file-log resource.
const upstreamPythonWorkflow = `{
    "functions": [
        {
            "name": "sensor_simulator",
            "class_specification": {
                "id": "sensor_simulator", "function_type": "RUST_WASM", "version": "0.1",
                "code": "../../functions/sensor_simulator/sensor_simulator.wasm", "outputs": ["output"]
            },
            "output_mapping": { "output": "delay" },
            "annotations": { "init-payload": "period=1000,min-value=-10,max-value=10,seed=42" }
        },
        {
            "name": "delay",
            "class_specification": {
                "id": "delay", "function_type": "CONTAINER", "version": "0.1",
                "code": "container:python-function:latest", "outputs": []
            },
            "output_mapping": { "output": "my-log" },
            "annotations": {}
        }
    ],
    "resources": [
        {
            "name": "my-log", "class_type": "file-log", "output_mapping": {},
            "configurations": { "filename": "my-local-file.log", "add-timestamp": "true" }
        }
    ],
    "annotations": {}
}`

// tickLine is a file-log line (add-timestamp) of a transformed tick.
var tickLine = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT[0-9:.]+\+00:00 TICK \d+$`)

// TestE2E_UpstreamPythonContainerWorkflow starts upstream's container
// example as a user would, piece by missing piece: the errors name what is
// missing, and with the pieces there the workflow, its file-log included,
// is placed and started.
func TestE2E_UpstreamPythonContainerWorkflow(t *testing.T) {
	t.Parallel()
	exampleImages(t)
	box, cfg := startBoxConfig(t)
	url := box.ControllerURL
	root := t.TempDir()
	dir := filepath.Join(root, "examples", "container")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	path := write("workflow-python.json", upstreamPythonWorkflow)

	// 1. The WASM module has not been built.
	_, err := runCLI(t, url, "workflow", "start", path)
	if err == nil || !strings.Contains(err.Error(), `functions[0] "sensor_simulator".class_specification.code: read RUST_WASM code`) {
		t.Errorf("start without the module = %v, want an error naming the function and its code", err)
	}

	// 2. The module exists, but is not a function (an empty module): the
	// node's RUST_WASM runtime refuses it, naming what is missing.
	wasm := filepath.Join(root, "functions", "sensor_simulator", "sensor_simulator.wasm")
	if err := os.MkdirAll(filepath.Dir(wasm), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, url, "workflow", "start", path)
	if err == nil || !strings.Contains(err.Error(), `function "sensor_simulator"`) ||
		!strings.Contains(err.Error(), `module exports no memory named "memory": bad wasm module`) {
		t.Errorf("start with an empty module = %v, want the node's refusal naming the function and the missing export", err)
	}

	// 3. With the WASM function replaced by a container (the example
	// ticker), the python image is missing.
	noWasm := strings.Replace(upstreamPythonWorkflow, `"RUST_WASM"`, `"CONTAINER"`, 1)
	noWasm = strings.Replace(noWasm, `"../../functions/sensor_simulator/sensor_simulator.wasm"`, `"container:`+ExampleTag("ticker")+`"`, 1)
	noWasm = strings.Replace(noWasm, `period=1000,min-value=-10,max-value=10,seed=42`, `period-ms=200`, 1)
	_, err = runCLI(t, url, "workflow", "start", write("no-wasm.json", noWasm))
	if err == nil || !strings.Contains(err.Error(), `function "delay"`) || !strings.Contains(err.Error(), "python-function:latest") {
		t.Errorf("start without the python image = %v, want an error naming delay and its image", err)
	}
	if n := settledContainerCount(t, box, 0); n != 0 {
		t.Errorf("%d containers left after the failed start, want 0", n)
	}

	// 4. With images that exist, everything is placed and started, the
	// file-log included: delay (a transformer here) casts to my-log.
	ready := strings.Replace(noWasm, "python-function:latest", ExampleTag("transformer"), 1)
	id := startFile(t, url, write("ready.json", ready))
	logPath := filepath.Join(cfg.Node.Resources.FileLogDir, "my-local-file.log")
	eventually(t, "ticks reach the file-log", func() bool {
		b, _ := os.ReadFile(logPath)
		// Ticks sent before the outputs were wired are dropped.
		return tickLine.Match(b)
	})
	mustCLI(t, url, "workflow", "stop", id)
}
