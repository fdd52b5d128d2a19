package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/inabox"
	"github.com/edgeless-go/edgeless/node/internal/process"
	"github.com/spf13/cobra"
)

// Files of a background in-a-box in its state directory.
const (
	boxStateFile = "inabox.json"
	boxLogFile   = "inabox.log"
)

// boxState is what `edgeless up` leaves for `edgeless down`: written by the
// background box once it is ready, removed by it after it has shut down.
type boxState struct {
	PID           int    `json:"pid"`
	ControllerURL string `json:"controller_url"`
	NodeID        string `json:"node_id"`
	Log           string `json:"log"`
}

// defaultStateDir is $EDGELESS_STATE_DIR, else $XDG_STATE_HOME/edgeless,
// else ~/.local/state/edgeless.
func defaultStateDir() string {
	if d := os.Getenv("EDGELESS_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "edgeless")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "edgeless")
	}
	return filepath.Join(os.TempDir(), "edgeless-state")
}

func newUpCommand(opts *options) *cobra.Command {
	var stateDir, configFile string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start an in-a-box domain (orchestrator and node) in the background",
		Long: `Start an in-a-box domain (what edgeless-inabox runs) as a background process
and return once its node is ready. Its pid and log file are kept in the state
directory; "edgeless down" stops it, which stops every function instance and
removes its container. The config is -c FILE, else inabox.toml if it exists,
else the defaults (controller on http://127.0.0.1:7001).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			return up(ctx, stateDir, configFile, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultStateDir(), "directory of the background box's pid file and log (env EDGELESS_STATE_DIR)")
	cmd.Flags().StringVarP(&configFile, "config-file", "c", "", "in-a-box configuration (default: inabox.toml if it exists, else built-in defaults)")
	return cmd
}

func newDownCommand(opts *options) *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: `Stop the in-a-box domain started by "edgeless up" and wait until its containers are gone`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			return down(ctx, stateDir, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultStateDir(), "directory of the background box's pid file and log (env EDGELESS_STATE_DIR)")
	return cmd
}

// newBoxServeCommand is the background process that `up` starts: an
// in-a-box that writes its state file once ready and removes it once shut
// down. Hidden: users run `up`, or edgeless-inabox in the foreground.
func newBoxServeCommand() *cobra.Command {
	var stateDir, configFile string
	cmd := &cobra.Command{
		Use:    "box-serve",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveBox(cmd.Context(), stateDir, configFile, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory")
	cmd.Flags().StringVarP(&configFile, "config-file", "c", "", "in-a-box configuration")
	return cmd
}

func readBoxState(dir string) (*boxState, error) {
	b, err := os.ReadFile(filepath.Join(dir, boxStateFile))
	if err != nil {
		return nil, err
	}
	var s boxState
	if err := json.Unmarshal(b, &s); err != nil || s.PID <= 0 {
		return nil, fmt.Errorf("%s: not a state file of edgeless up (%v)", filepath.Join(dir, boxStateFile), err)
	}
	return &s, nil
}

// alive reports whether process pid exists (a zombie counts: its state file
// tells whether it has shut down).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func up(ctx context.Context, dir, configFile string, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if s, err := readBoxState(dir); err == nil && alive(s.PID) {
		return fmt.Errorf("an in-a-box started by edgeless up is already running (pid %d, controller %s); stop it with: edgeless down", s.PID, s.ControllerURL)
	}
	os.Remove(filepath.Join(dir, boxStateFile)) // stale: its process is gone
	if configFile != "" {
		abs, err := filepath.Abs(configFile)
		if err != nil {
			return err
		}
		configFile = abs
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to start it in the background: %w", err)
	}
	logPath := filepath.Join(dir, boxLogFile)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("box log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	args := []string{"box-serve", "--state-dir", dir}
	if configFile != "" {
		args = append(args, "--config-file", configFile)
	}
	child := exec.Command(exe, args...)
	child.Stdout, child.Stderr = logFile, logFile
	// Its own session: the terminal's Ctrl-C and the end of the shell (or of
	// `go run`) do not reach it; `edgeless down` does.
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return fmt.Errorf("start the background box: %w", err)
	}
	pid := child.Process.Pid
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if s, err := readBoxState(dir); err == nil && s.PID == pid {
			fmt.Fprintf(out, "in-a-box running in the background (pid %d): controller %s, node %s\n", pid, s.ControllerURL, s.NodeID)
			fmt.Fprintf(out, "  web console: %s/\n", s.ControllerURL)
			fmt.Fprintf(out, "  its log: %s (function output: edgeless function logs ID FUNCTION)\n", logPath)
			fmt.Fprintln(out, "  stop it with: edgeless down")
			return child.Process.Release()
		}
		var ws syscall.WaitStatus
		if wpid, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); wpid == pid {
			return fmt.Errorf("the background box exited (%s) before it was ready; its log %s ends with:\n%s", exitText(ws), logPath, tail(logPath, 15))
		}
		select {
		case <-ctx.Done():
			child.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("the background box was not ready in time (it was told to stop); see its log %s: %w", logPath, ctx.Err())
		case <-t.C:
		}
	}
}

func exitText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, "  "+sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	s := ""
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}

func serveBox(ctx context.Context, dir, configFile string, logOut io.Writer) error {
	if dir == "" {
		return errors.New("--state-dir: required")
	}
	log, err := process.NewLogger(logOut, "info", "text")
	if err != nil {
		return err
	}
	process.SetGRPCLogger(log)
	cfg, usedDefaults, err := inabox.LoadOrDefault(configFile)
	if err != nil {
		return err
	}
	if usedDefaults {
		log.Info("no " + inabox.DefaultConfigFile + ": using the defaults")
	}
	ctx, stop := process.SignalContext(ctx, log)
	defer stop()
	box, err := inabox.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	statePath := filepath.Join(dir, boxStateFile)
	if err := box.WaitReady(ctx); err != nil {
		stop()
		return errors.Join(err, box.Wait())
	}
	b, _ := json.Marshal(boxState{PID: os.Getpid(), ControllerURL: box.ControllerURL, NodeID: box.NodeID, Log: filepath.Join(dir, boxLogFile)})
	tmp := statePath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		err = os.Rename(tmp, statePath)
	}
	if err != nil {
		stop()
		return errors.Join(fmt.Errorf("write state file: %w", err), box.Wait())
	}
	log.Info("ready; stop with: edgeless down", "state_file", statePath)
	err = box.Wait()
	// Last: the box and its containers are gone. `down` waits for this.
	if rerr := os.Remove(statePath); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	log.Info("stopped")
	return err
}

func down(ctx context.Context, dir string, out io.Writer) error {
	s, err := readBoxState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "no in-a-box started by edgeless up is running (no %s)\n", filepath.Join(dir, boxStateFile))
		return nil
	}
	if err != nil {
		return err
	}
	statePath := filepath.Join(dir, boxStateFile)
	t0 := time.Now()
	if alive(s.PID) {
		fmt.Fprintf(out, "stopping in-a-box (pid %d): every instance is stopped and its container removed\n", s.PID)
		if err := syscall.Kill(s.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal pid %d: %w", s.PID, err)
		}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for alive(s.PID) {
			if _, err := os.Stat(statePath); errors.Is(err, fs.ErrNotExist) {
				break // shut down; the process may linger as a zombie
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("in-a-box (pid %d) has not stopped yet (see %s): %w", s.PID, s.Log, ctx.Err())
			case <-t.C:
			}
		}
	} else {
		fmt.Fprintf(out, "in-a-box (pid %d) is not running any more; checking for its containers\n", s.PID)
	}
	os.Remove(statePath)
	dc, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	left, err := nodeContainers(ctx, dc, s.NodeID)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("%d container(s) of node %s are left (remove them with: docker rm -f $(docker ps -aq --filter label=edgeless.node-id=%s))", len(left), s.NodeID, s.NodeID)
	}
	fmt.Fprintf(out, "in-a-box stopped in %s; no container of node %s left\n", fmtDuration(time.Since(t0)), shortID(s.NodeID))
	return nil
}
