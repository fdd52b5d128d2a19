package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// procCPU returns the CPU time (user + system) process pid has used.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck
}

// BenchmarkConsole_NodeCPUPerEvent measures the CPU the box (node and
// orchestrator, in their own process started by `edgeless up`) spends per
// event received by the sink, with three console pages of the workflow
// open versus none, in alternating windows of the same run. It reports
// the ratio (the goal is at most 1.05), and the ratio of the box's CPU
// share, which the ticker's rate (it follows the machine's load) does not
// blur.
//
//	go test -run '^$' -bench Console_NodeCPUPerEvent -benchtime 1x ./internal/cli
func BenchmarkConsole_NodeCPUPerEvent(b *testing.B) {
	b.Setenv("EDGELESS_CLI_MAIN", "1") // for the background box only
	dir := exampleImages(b)
	browser := startBrowser(b)
	cfg, nodeState, err := demoConfig()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(nodeState) })
	containertest.CleanupNode(b, cfg.Node.General.NodeID)
	boxFile := filepath.Join(b.TempDir(), "box.toml")
	if err := inabox.WriteTemplate(boxFile, cfg, config.UserNodeCapabilities{}); err != nil {
		b.Fatal(err)
	}
	stateDir := b.TempDir()
	cli := func(args ...string) string {
		root := NewRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.ExecuteContext(context.Background()); err != nil {
			b.Fatalf("edgeless %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	cli("up", "--state-dir", stateDir, "-c", boxFile)
	b.Cleanup(func() { cli("down", "--state-dir", stateDir) })
	s, err := readBoxState(stateDir)
	if err != nil {
		b.Fatal(err)
	}

	// The example workflow with the ticker at its fastest (100 events/s).
	wf := strings.Replace(readFileTB(b, filepath.Join(dir, "workflow.json")), "period-ms=500", "period-ms=10", 1)
	wfPath := filepath.Join(b.TempDir(), "workflow.json")
	if err := os.WriteFile(wfPath, []byte(wf), 0o600); err != nil {
		b.Fatal(err)
	}
	id := strings.TrimSpace(cli("--controller-url", s.ControllerURL, "workflow", "start", "--quiet", wfPath))
	admin := adminapi.Controller{BaseURL: s.ControllerURL}
	sinkEvents := func() uint64 {
		wi, err := admin.WorkflowEvents(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range wi.Functions {
			if f.Name == "sink" && f.EventsReceived != nil {
				return *f.EventsReceived
			}
		}
		b.Fatal("no event count for sink")
		return 0
	}

	tabs := make([]context.Context, 3)
	for i := range tabs {
		tabs[i] = newTab(b, browser)
	}
	open := func(pages bool) {
		for _, tab := range tabs {
			if !pages {
				do(b, tab, "close the page", chromedp.Navigate("about:blank"))
				continue
			}
			do(b, tab, "open the page", chromedp.Navigate(s.ControllerURL+"/workflows/"+id))
			waitFor(b, tab, "the page polling", `document.querySelector('[data-function="sink"] [data-events]') !== null && document.visibilityState === 'visible'`)
		}
	}

	const window, rounds = 3 * time.Second, 6
	var cpu, wall [2]time.Duration
	var events [2]uint64
	for b.Loop() {
		for round := range rounds {
			for mode := range 2 { // 0: no page, 1: three pages
				open(mode == 1)
				c0, e0, t0 := procCPU(b, s.PID), sinkEvents(), time.Now()
				time.Sleep(window)
				c1, e1 := procCPU(b, s.PID), sinkEvents()
				wall[mode] += time.Since(t0)
				cpu[mode] += c1 - c0
				events[mode] += e1 - e0
				b.Logf("round %d, %d pages: %v CPU for %d events", round, 3*mode, c1-c0, e1-e0)
			}
		}
	}
	open(false)
	per := func(m int) float64 { return float64(cpu[m].Microseconds()) / float64(events[m]) }
	b.ReportMetric(per(0), "µs-cpu/event-0pages")
	b.ReportMetric(per(1), "µs-cpu/event-3pages")
	b.ReportMetric(per(1)/per(0), "ratio-3pages/0pages")
	// The ticker's rate follows the load of the machine: the CPU share is
	// shown too.
	share := func(m int) float64 { return cpu[m].Seconds() / wall[m].Seconds() }
	b.ReportMetric(share(1)/share(0), "cpu-share-ratio-3pages/0pages")
}

// readFileTB returns a file's content.
func readFileTB(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
