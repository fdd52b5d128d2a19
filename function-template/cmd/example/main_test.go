package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"

	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// runMainEnv makes the test binary run the example's main instead of the
// tests, so that tests can run the real program as a process.
const runMainEnv = "EDGELESS_EXAMPLE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is the example program running as a child process.
type process struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed when the process has exited and its output is read

	mu    sync.Mutex
	lines []string
	seen  chan struct{} // signalled on every new line
}

// startProcess runs the example's main on a free port and waits until it
// serves.
func startProcess(t *testing.T, ctx context.Context) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-port", "0")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the example: %v", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), seen: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("example output:\n%s", strings.Join(p.output(), "\n"))
		}
	})
	line := p.waitLine(t, ctx, `msg="serving GuestAPIFunction"`)
	m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	_, port, err := net.SplitHostPort(m[1])
	if err != nil {
		t.Fatalf("address in %q: %v", line, err)
	}
	p.url = "http://127.0.0.1:" + port
	return p
}

func (p *process) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitLine waits for an output line containing s and returns it.
func (p *process) waitLine(t *testing.T, ctx context.Context, s string) string {
	t.Helper()
	for {
		for _, l := range p.output() {
			if strings.Contains(l, s) {
				return l
			}
		}
		select {
		case <-p.seen:
		case <-p.done:
			for _, l := range p.output() {
				if strings.Contains(l, s) {
					return l
				}
			}
			t.Fatalf("the example exited (%v) without writing %q", p.cmd.ProcessState, s)
		case <-ctx.Done():
			t.Fatalf("the example did not write %q: %v", s, ctx.Err())
		}
	}
}

// exitCode waits for the process to exit and returns its exit code.
func (p *process) exitCode(t *testing.T, ctx context.Context) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-ctx.Done():
		t.Fatalf("the example did not exit: %v", ctx.Err())
		return -1
	}
}

// TestMain_SIGTERM: on SIGTERM the program stops accepting work, lets the
// call in flight finish, stops the function and exits with status 0.
func TestMain_SIGTERM(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	host := guesttest.NewHost(t)
	release := make(chan struct{})
	host.SetCallReply(func(guesttest.Request) (*edgelessapi.CallReturn, error) {
		<-release
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("late answer")}, nil
	})
	p := startProcess(t, ctx)
	c := guesttest.NewClient(t, "grpc", p.url)
	if _, err := c.Boot(ctx, guesttest.BootData(host)); err != nil {
		t.Fatalf("Boot() error = %v", err)
	}
	if _, err := c.Init(ctx, &edgelessapi.FunctionInstanceInit{}); err != nil {
		t.Fatalf("Init() error = %v", err)
	}
	type result struct {
		res *edgelessapi.CallReturn
		err error
	}
	results := make(chan result, 1)
	go func() {
		res, err := c.Call(ctx, &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte("recall slow question")})
		results <- result{res, err}
	}()
	host.Wait(t, 1) // the call is in flight, waiting for the host

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, ctx, `msg="shutting down"`)
	close(release)
	r := <-results
	if r.err != nil || string(r.res.GetMsg()) != "late answer" {
		t.Errorf("in-flight Call() = %v, %v, want the late answer", r.res, r.err)
	}
	if code := p.exitCode(t, ctx); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	p.waitLine(t, ctx, `msg="example function stopped"`)
	p.waitLine(t, ctx, `msg="shut down"`)
}

func TestMain_ExitCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	host := guesttest.NewHost(t)
	p := startProcess(t, ctx)
	c := guesttest.NewClient(t, "grpc", p.url)
	if _, err := c.Boot(ctx, guesttest.BootData(host)); err != nil {
		t.Fatalf("Boot() error = %v", err)
	}
	if _, err := c.Init(ctx, &edgelessapi.FunctionInstanceInit{}); err != nil {
		t.Fatalf("Init() error = %v", err)
	}
	if res, err := c.Call(ctx, &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte("exit 3")}); err == nil {
		t.Errorf("Call(exit 3) = %v, want an error (the process ended)", res)
	}
	if code := p.exitCode(t, ctx); code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
}

func TestMain_BadArguments(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-port", "none")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), `port "none"`) {
		t.Errorf("example -port none: %v, output %q, want exit code 1 naming the port", err, out)
	}
}
