package registration

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
)

// Detect reads the capabilities of this host: CPUs, cores, CPU model and
// clock, memory, the size of the disk holding dir, and a TPM. A value that
// cannot be read is left nil.
func Detect(dir string) config.UserNodeCapabilities {
	var c config.UserNodeCapabilities
	n := uint32(runtime.NumCPU())
	c.NumCPUs = &n
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		model, mhz, cores := parseCPUInfo(info)
		if model != "" {
			c.ModelNameCPU = &model
		}
		if mhz > 0 {
			c.ClockFreqCPU = &mhz
		}
		if cores > 0 {
			c.NumCores = &cores
		}
	}
	if c.NumCores == nil {
		c.NumCores = &n
	}
	if mem, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, ok := meminfo(mem)["MemTotal"]; ok {
			mib := uint32(kb / 1024)
			c.MemSize = &mib
		}
	}
	var st syscall.Statfs_t
	if dir == "" {
		dir = "."
	}
	for d := dir; ; d = parent(d) {
		if err := syscall.Statfs(d, &st); err == nil {
			mib := uint32(st.Blocks * uint64(st.Bsize) >> 20)
			c.DiskTotSpace = &mib
			break
		}
		if d == parent(d) {
			break
		}
	}
	tpm := exists("/dev/tpm0") || exists("/dev/tpmrm0")
	c.HasTPM = &tpm
	f := false
	c.IsTEERunning = &f
	zero := uint32(0)
	c.NumGPUs = &zero
	return c
}

func parent(p string) string {
	i := strings.LastIndexByte(strings.TrimRight(p, "/"), '/')
	switch {
	case i > 0:
		return p[:i]
	case i == 0:
		return "/"
	default:
		return "."
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// parseCPUInfo returns the first CPU's model and clock and the number of
// physical cores (distinct physical id and core id pairs).
func parseCPUInfo(b []byte) (model string, mhz float32, cores uint32) {
	type core struct{ pkg, id string }
	seen := map[core]bool{}
	var cur core
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			if model == "" {
				model = v
			}
		case "cpu MHz":
			if f, err := strconv.ParseFloat(v, 32); err == nil && mhz == 0 {
				mhz = float32(f)
			}
		case "physical id":
			cur.pkg = v
		case "core id":
			cur.id = v
			seen[cur] = true
		}
	}
	return model, mhz, uint32(len(seen))
}

// meminfo parses /proc/meminfo into kB values.
func meminfo(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// Capabilities merges the detected capabilities with the operator's
// overrides and adds the runtimes and the label hostname=<hostname>.
func Capabilities(detected, user config.UserNodeCapabilities, runtimes []string, hostname string) *edgelessapi.NodeCapabilities {
	pick := func(u, d *uint32) uint32 {
		if u != nil {
			return *u
		}
		if d != nil {
			return *d
		}
		return 0
	}
	str := func(u, d *string) string {
		if u != nil {
			return *u
		}
		if d != nil {
			return *d
		}
		return ""
	}
	boolean := func(u, d *bool) bool {
		if u != nil {
			return *u
		}
		return d != nil && *d
	}
	c := &edgelessapi.NodeCapabilities{
		NumCpus:      pick(user.NumCPUs, detected.NumCPUs),
		ModelNameCpu: str(user.ModelNameCPU, detected.ModelNameCPU),
		NumCores:     pick(user.NumCores, detected.NumCores),
		MemSize:      pick(user.MemSize, detected.MemSize),
		IsTeeRunning: boolean(user.IsTEERunning, detected.IsTEERunning),
		HasTpm:       boolean(user.HasTPM, detected.HasTPM),
		Runtimes:     slices.Clone(runtimes),
		DiskTotSpace: pick(user.DiskTotSpace, detected.DiskTotSpace),
		NumGpus:      pick(user.NumGPUs, detected.NumGPUs),
		ModelNameGpu: str(user.ModelNameGPU, detected.ModelNameGPU),
		MemSizeGpu:   pick(user.MemSizeGPU, detected.MemSizeGPU),
	}
	switch {
	case user.ClockFreqCPU != nil:
		c.ClockFreqCpu = *user.ClockFreqCPU
	case detected.ClockFreqCPU != nil:
		c.ClockFreqCpu = *detected.ClockFreqCPU
	}
	labels := user.Labels
	if labels == nil {
		labels = detected.Labels
	}
	host := "hostname=" + hostname
	c.Labels = slices.Clone(labels)
	if !slices.Contains(c.Labels, host) {
		c.Labels = append(c.Labels, host)
	}
	return c
}
