package registration

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// healthProbe samples the host's health for UpdateNode: memory (kB),
// this process's CPU (percent since the previous sample) and memory (kB),
// load averages (x100), network totals over non-loopback interfaces, and the
// free space of the state directory's disk (bytes). Values it cannot read
// stay 0; active_power is -1 (unknown), as upstream reports without a PDU.
type healthProbe struct {
	dir string

	mu       sync.Mutex
	lastCPU  time.Duration
	lastWall time.Time
}

func newHealthProbe(dir string) *healthProbe {
	return &healthProbe{dir: dir}
}

func (p *healthProbe) sample() *edgelessapi.NodeHealthStatus {
	h := &edgelessapi.NodeHealthStatus{ActivePower: -1}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m := meminfo(b)
		h.MemFree = clamp32(m["MemFree"])
		h.MemAvailable = clamp32(m["MemAvailable"])
		h.MemUsed = clamp32(m["MemTotal"] - m["MemAvailable"])
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		m := meminfo(b)
		h.ProcMemory = clamp32(m["VmRSS"])
		h.ProcVmemory = clamp32(m["VmSize"])
	}
	h.ProcCpuUsage = p.cpuPercent()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		for i, dst := range []*int32{&h.LoadAvg_1, &h.LoadAvg_5, &h.LoadAvg_15} {
			if i < len(f) {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					*dst = int32(math.Round(v * 100))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/dev"); err == nil {
		h.TotRxBytes, h.TotRxPkts, h.TotRxErrs, h.TotTxBytes, h.TotTxPkts, h.TotTxErrs = netTotals(b)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(p.dir, &st); err == nil {
		h.DiskFreeSpace = int64(st.Bavail * uint64(st.Bsize))
	}
	return h
}

// cpuPercent is this process's CPU use since the previous call, in percent
// of one CPU.
func (p *healthProbe) cpuPercent() int32 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var pct int32
	if !p.lastWall.IsZero() {
		if wall := now.Sub(p.lastWall); wall > 0 {
			pct = int32(100 * float64(cpu-p.lastCPU) / float64(wall))
		}
	}
	p.lastCPU, p.lastWall = cpu, now
	return pct
}

// netTotals sums /proc/net/dev over every interface but lo.
func netTotals(b []byte) (rxBytes, rxPkts, rxErrs, txBytes, txPkts, txErrs int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 12 {
			continue
		}
		n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
		rxBytes += n(0)
		rxPkts += n(1)
		rxErrs += n(2)
		txBytes += n(8)
		txPkts += n(9)
		txErrs += n(10)
	}
	return
}

func clamp32(v int64) int32 {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	if v < 0 {
		return 0
	}
	return int32(v)
}
