package process

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/grpclog"

	"github.com/edgeless-go/edgeless/runtime/lograte"
)

// GRPCLogger is grpc-go's logger (grpclog.LoggerV2) writing into a
// *slog.Logger, so that grpc-go's messages come in the program's format
// (text or JSON) instead of grpc-go's own on stderr. It keeps warnings and
// errors only (grpc-go's info lines are per-connection chatter, and its
// default logger shows errors only), and rate-limits them: a kind of
// message (component, level and the start of the text) at most once per
// lograte.Every, with "messages", the count since the previous line of
// that kind. The zero value writes to slog.Default().
type GRPCLogger struct {
	sink atomic.Pointer[grpcSink]
}

// grpcSink is where a GRPCLogger writes, with its rate limits.
type grpcSink struct {
	log  *slog.Logger
	rate lograte.Keyed
}

var (
	grpcLogs    GRPCLogger
	installGRPC sync.Once
)

// InstallGRPCLogger makes grpc-go log through a GRPCLogger, which writes to
// slog.Default() until SetGRPCLogger names the program's logger. grpc-go
// reads its logger without a lock: call this first thing in main, before
// any gRPC use (never from a test that runs beside others).
func InstallGRPCLogger() {
	installGRPC.Do(func() { grpclog.SetLoggerV2(&grpcLogs) })
}

// SetGRPCLogger sends the grpc-go messages of InstallGRPCLogger to log.
// It is safe at any time.
func SetGRPCLogger(log *slog.Logger) { grpcLogs.SetLogger(log) }

// SetLogger sends g's lines to log (nil: slog.Default()), with rate limits
// that start afresh.
func (g *GRPCLogger) SetLogger(log *slog.Logger) { g.sink.Store(&grpcSink{log: log}) }

func (g *GRPCLogger) target() *grpcSink {
	if s := g.sink.Load(); s != nil {
		return s
	}
	g.sink.CompareAndSwap(nil, &grpcSink{})
	return g.sink.Load()
}

func (s *grpcSink) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}

// prefixLen is how much of a message's text tells its kind apart: enough
// for grpc-go's fixed wording, short of the addresses and errors that
// follow it.
const prefixLen = 40

func (g *GRPCLogger) write(level slog.Level, msg string) {
	sink := g.target()
	log := sink.logger()
	if !log.Enabled(context.Background(), level) {
		return
	}
	component := ""
	if rest, ok := strings.CutPrefix(msg, "["); ok {
		if name, text, ok := strings.Cut(rest, "]"); ok {
			component, msg = name, strings.TrimSpace(text)
		}
	}
	kind := msg
	if len(kind) > prefixLen {
		kind = kind[:prefixLen]
	}
	due, n := sink.rate.Note(level.String()+" "+component+" "+kind, time.Now())
	if !due {
		return
	}
	log.Log(context.Background(), level, msg, "source", "grpc-go", "grpc_component", component,
		"messages", n, "next_line_in", lograte.Every)
}

// Info, Infoln, Infof and InfoDepth drop grpc-go's info lines.
func (g *GRPCLogger) Info(...any)                 {}
func (g *GRPCLogger) Infoln(...any)               {}
func (g *GRPCLogger) Infof(string, ...any)        {}
func (g *GRPCLogger) InfoDepth(int, ...any)       {}
func (g *GRPCLogger) Warning(args ...any)         { g.write(slog.LevelWarn, fmt.Sprint(args...)) }
func (g *GRPCLogger) Warningln(args ...any)       { g.write(slog.LevelWarn, sprintln(args)) }
func (g *GRPCLogger) Warningf(f string, a ...any) { g.write(slog.LevelWarn, fmt.Sprintf(f, a...)) }
func (g *GRPCLogger) WarningDepth(_ int, args ...any) {
	g.write(slog.LevelWarn, sprintln(args))
}
func (g *GRPCLogger) Error(args ...any)         { g.write(slog.LevelError, fmt.Sprint(args...)) }
func (g *GRPCLogger) Errorln(args ...any)       { g.write(slog.LevelError, sprintln(args)) }
func (g *GRPCLogger) Errorf(f string, a ...any) { g.write(slog.LevelError, fmt.Sprintf(f, a...)) }
func (g *GRPCLogger) ErrorDepth(_ int, args ...any) {
	g.write(slog.LevelError, sprintln(args))
}

// Fatal, Fatalln, Fatalf and FatalDepth log without a rate limit and end
// the process, as grpc-go expects.
func (g *GRPCLogger) Fatal(args ...any)         { g.fatal(fmt.Sprint(args...)) }
func (g *GRPCLogger) Fatalln(args ...any)       { g.fatal(sprintln(args)) }
func (g *GRPCLogger) Fatalf(f string, a ...any) { g.fatal(fmt.Sprintf(f, a...)) }
func (g *GRPCLogger) FatalDepth(_ int, args ...any) {
	g.fatal(sprintln(args))
}

func (g *GRPCLogger) fatal(msg string) {
	g.target().logger().Error(msg, "source", "grpc-go", "fatal", true)
	os.Exit(1)
}

// V reports whether grpc-go's verbose level l is on: never.
func (g *GRPCLogger) V(int) bool { return false }

// sprintln joins args with spaces, as grpc-go's own logger does for its
// component messages ("[transport]", "text"), without the newline.
func sprintln(args []any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }

var (
	_ grpclog.LoggerV2      = (*GRPCLogger)(nil)
	_ grpclog.DepthLoggerV2 = (*GRPCLogger)(nil)
)
