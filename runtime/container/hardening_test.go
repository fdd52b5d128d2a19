package container_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// TestContainer_Confined runs, as root (the probe image has no USER), a
// function that tries what a confined container must not do.
func TestContainer_Confined(t *testing.T) {
	t.Parallel()
	buildFakeImages(t)
	tests := []struct {
		name        string
		annotations map[string]string
		want        []string
	}{
		{"default", nil, []string{
			"uid: 0",
			"write /: open /probe: read-only file system",
			"write /tmp: ok",
			"chown /tmp: chown /tmp/probe: operation not permitted",
			"raw socket: operation not permitted",
		}},
		{"writable root", map[string]string{container.AnnotationReadOnly: "false"}, []string{
			"write /: ok",
			"raw socket: operation not permitted",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, _, c := dockerNode(t, nil)
			spec := n.spec("container:" + probeImage)
			spec.Annotations = tt.annotations
			_, err := n.rt.Start(t.Context(), spec)
			be, ok := errorsAs[*container.BootError](err)
			if !ok || !be.Exited {
				t.Fatalf("Start = %v, want a BootError for the probe's exit", err)
			}
			got := strings.Join(be.LastLogs, "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("probe output = %q, want a line %q", got, w)
				}
			}
			wantNoContainers(t, c, n.id)
		})
	}
}

// TestContainer_RootImageRuns checks that a function image without USER
// (running as root) still serves with every capability dropped and a
// read-only root filesystem.
func TestContainer_RootImageRuns(t *testing.T) {
	t.Parallel()
	containertest.RequireDocker(t)
	bin := containertest.BuildStaticBinary(t, "../../function-template", "./cmd/example")
	tag := "edgeless-runtime-test-root-" + uuid.NewString()[:8] + ":dev"
	containertest.BuildImage(t, tag, map[string][]byte{
		"Dockerfile": []byte("FROM scratch\nCOPY function /function\nEXPOSE 7101\nENTRYPOINT [\"/function\"]\n"),
		"function":   bin,
	})
	t.Cleanup(func() { containertest.RemoveImage(t, tag) })
	n, _, c := dockerNode(t, nil)
	inst := n.start(t, n.spec("container:"+tag))
	wantReply(t, "Call(hello)", call(t, inst, n.sinkID(), "hello"), "hello")
	ins := inspect(t, c, inst.Info().ContainerID)
	if hc := ins.HostConfig; strings.Join(hc.CapDrop, ",") != "ALL" || !hc.ReadonlyRootfs || hc.Tmpfs["/tmp"] == "" {
		t.Errorf("HostConfig: CapDrop %v, ReadonlyRootfs %v, Tmpfs %v; want ALL, true, a /tmp", hc.CapDrop, hc.ReadonlyRootfs, hc.Tmpfs)
	}
	if lc := ins.HostConfig.LogConfig; lc.Type != "json-file" || lc.Config["max-size"] == "" || lc.Config["max-file"] == "" {
		t.Errorf("LogConfig = %+v, want json-file with max-size and max-file", lc)
	}
}

// TestContainer_DefaultLimits checks that a container without limit
// annotations is not unlimited, and that operator-listed capabilities are
// kept.
func TestContainer_DefaultLimits(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, func(cfg *container.Config) { cfg.CapAdd = []string{"NET_BIND_SERVICE"} })
	inst := n.start(t, n.spec("container:"+img))
	ins := inspect(t, c, inst.Info().ContainerID)
	hc := ins.HostConfig
	d := container.DefaultLimits
	if !slices.Contains(ins.Config.Env, "GOMAXPROCS=1") {
		t.Errorf("Env = %q, want GOMAXPROCS=1 (the default of one CPU)", ins.Config.Env)
	}
	if hc.Memory != d.MemoryBytes || hc.NanoCPUs != d.NanoCPUs || hc.PidsLimit == nil || *hc.PidsLimit != d.PidsLimit {
		t.Errorf("limits = memory %d, cpus %d, pids %v; want %+v", hc.Memory, hc.NanoCPUs, hc.PidsLimit, d)
	}
	// The engine may spell it with the CAP_ prefix.
	if got := strings.TrimPrefix(strings.Join(hc.CapAdd, ","), "CAP_"); got != "NET_BIND_SERVICE" {
		t.Errorf("CapAdd = %q, want NET_BIND_SERVICE", got)
	}
}

func TestRuntime_LimitAboveMaximum(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nodeOptions{cfg: func(cfg *container.Config) {
		cfg.Maxima = container.Limits{MemoryBytes: 1 << 30, NanoCPUs: 2e9, PidsLimit: 500}
	}})
	tests := []struct {
		annotation, value, want string
	}{
		{container.AnnotationMemory, "1TiB", "memory 1099511627776 bytes is above the node's maximum of 1073741824 bytes (container.memory)"},
		{container.AnnotationCPUs, "3", "3 CPUs is above the node's maximum of 2 (container.cpus)"},
		{container.AnnotationPids, "501", "501 pids is above the node's maximum of 500 (container.pids)"},
	}
	for _, tt := range tests {
		t.Run(tt.annotation, func(t *testing.T) {
			spec := n.spec("grpc:http://127.0.0.1:1")
			spec.Annotations = map[string]string{tt.annotation: tt.value}
			_, err := n.rt.Start(t.Context(), spec)
			if !errors.Is(err, container.ErrLimitExceeded) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start(%s=%s) = %v, want ErrLimitExceeded saying %q", tt.annotation, tt.value, err, tt.want)
			}
		})
	}
}

func TestRuntime_ConfigRefusesBadHardening(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  func(*container.Config)
		want string
	}{
		{"default above maximum", func(c *container.Config) {
			c.Defaults.MemoryBytes, c.Maxima.MemoryBytes = 2<<30, 1<<30
		}, "default limits: limit exceeded: memory"},
		{"capability", func(c *container.Config) { c.CapAdd = []string{"ALL"} }, `capability "ALL"`},
		{"capability name", func(c *container.Config) { c.CapAdd = []string{"net raw"} }, `capability "net raw"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := container.Config{NodeID: uuid.NewString(), GuestAPIHostURL: "http://127.0.0.1:1", NoDocker: true}
			tt.set(&cfg)
			_, err := container.New(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
