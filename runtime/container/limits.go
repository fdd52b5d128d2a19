package container

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Function annotations that the runtime reads. Each overrides the node's
// default (Config.Defaults) for one instance.
const (
	// AnnotationMemory is the memory limit: bytes ("268435456") or a number
	// with a unit. Units are case-insensitive: "k", "m", "g", "t" and
	// "KiB", "MiB", "GiB", "TiB" are powers of 1024 (so "256m", like
	// docker run -m, is 256 MiB); "kB", "MB", "GB", "TB" are powers of 1000;
	// "B" is bytes. Docker's minimum is 6 MiB. Swap is disabled (swap limit
	// = memory limit).
	AnnotationMemory = "container.memory"
	// AnnotationCPUs is the CPU limit in CPUs, e.g. "0.5" or "2"
	// (docker run --cpus).
	AnnotationCPUs = "container.cpus"
	// AnnotationPids is the maximum number of processes and threads in the
	// container, a positive integer (docker run --pids-limit).
	AnnotationPids = "container.pids"
	// AnnotationReadOnly = "false" gives the function a writable root
	// filesystem; by default it is read-only, with a tmpfs /tmp ("true").
	AnnotationReadOnly = "container.read-only"
	// AnnotationPort is the container port of the function's
	// GuestAPIFunction server (default 7101, the template's EXPOSE).
	AnnotationPort = "container.port"
)

// Limits applied when Config.Defaults and Config.Maxima leave a field zero:
// no container is ever unlimited, and no annotation gets more than the
// maxima.
var (
	DefaultLimits = Limits{MemoryBytes: 256 << 20, NanoCPUs: 1e9, PidsLimit: 256}
	DefaultMaxima = Limits{MemoryBytes: 2 << 30, NanoCPUs: 4e9, PidsLimit: 4096}
)

// Defaults of the other hardening settings in Config.
const (
	DefaultTmpfsBytes  = 64 << 20
	DefaultLogMaxBytes = 10 << 20
	DefaultLogMaxFiles = 3
)

// withDefaults returns l with each zero field taken from def.
func (l Limits) withDefaults(def Limits) Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = def.MemoryBytes
	}
	if l.NanoCPUs == 0 {
		l.NanoCPUs = def.NanoCPUs
	}
	if l.PidsLimit == 0 {
		l.PidsLimit = def.PidsLimit
	}
	return l
}

// exceeds returns an error naming the first limit of l above max.
func (l Limits) exceeds(max Limits) error {
	switch {
	case l.MemoryBytes > max.MemoryBytes:
		return fmt.Errorf("%w: memory %d bytes is above the node's maximum of %d bytes (%s)",
			ErrLimitExceeded, l.MemoryBytes, max.MemoryBytes, AnnotationMemory)
	case l.NanoCPUs > max.NanoCPUs:
		return fmt.Errorf("%w: %g CPUs is above the node's maximum of %g (%s)",
			ErrLimitExceeded, float64(l.NanoCPUs)/1e9, float64(max.NanoCPUs)/1e9, AnnotationCPUs)
	case l.PidsLimit > max.PidsLimit:
		return fmt.Errorf("%w: %d pids is above the node's maximum of %d (%s)",
			ErrLimitExceeded, l.PidsLimit, max.PidsLimit, AnnotationPids)
	}
	return nil
}

// DefaultFunctionPort is the container port a function serves
// GuestAPIFunction on by convention (the template's EXPOSE 7101).
const DefaultFunctionPort = 7101

// MinMemoryBytes is the engine's smallest memory limit.
const MinMemoryBytes = 6 << 20

// LimitsFromAnnotations returns defaults overridden by the resource
// annotations present in annotations. A bad value is an error naming the
// annotation and the value.
func LimitsFromAnnotations(defaults Limits, annotations map[string]string) (Limits, error) {
	l := defaults
	if v, ok := annotations[AnnotationMemory]; ok {
		n, err := ParseMemory(v)
		if err != nil {
			return Limits{}, fmt.Errorf("%w %s=%q: %w", ErrBadAnnotation, AnnotationMemory, v, err)
		}
		l.MemoryBytes = n
	}
	if v, ok := annotations[AnnotationCPUs]; ok {
		n, err := ParseCPUs(v)
		if err != nil {
			return Limits{}, fmt.Errorf("%w %s=%q: %w", ErrBadAnnotation, AnnotationCPUs, v, err)
		}
		l.NanoCPUs = n
	}
	if v, ok := annotations[AnnotationPids]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return Limits{}, fmt.Errorf("%w %s=%q: want a positive integer", ErrBadAnnotation, AnnotationPids, v)
		}
		l.PidsLimit = n
	}
	if v, ok := annotations[AnnotationReadOnly]; ok {
		ro, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Limits{}, fmt.Errorf("%w %s=%q: want true or false", ErrBadAnnotation, AnnotationReadOnly, v)
		}
		l.WritableRootFS = !ro
	}
	return l, nil
}

// portFromAnnotations returns the function's container port.
func portFromAnnotations(annotations map[string]string) (uint16, error) {
	v, ok := annotations[AnnotationPort]
	if !ok {
		return DefaultFunctionPort, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w %s=%q: want a port number 1-65535", ErrBadAnnotation, AnnotationPort, v)
	}
	return uint16(n), nil
}

// sizeUnits maps a lower-case unit to its multiplier.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "ki": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mi": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gi": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "ti": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseSize parses a byte count: bytes, or a number with a unit as
// described at AnnotationMemory. It is the one size syntax of the node (the
// container.memory annotation, the config's default_memory).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (want B, k/KiB, m/MiB, g/GiB, t/TiB, kB, MB, GB or TB)", unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("want a size such as 268435456, 256MiB or 1g")
	}
	b := f * mult
	if b > math.MaxInt64/2 {
		return 0, fmt.Errorf("size too large")
	}
	return int64(b), nil
}

// ParseMemory parses a memory limit (see ParseSize) of at least
// MinMemoryBytes, the engine's minimum.
func ParseMemory(s string) (int64, error) {
	n, err := ParseSize(s)
	if err != nil {
		return 0, err
	}
	if n < MinMemoryBytes {
		return 0, fmt.Errorf("size %d bytes is below the engine's minimum of 6MiB", n)
	}
	return n, nil
}

// ParseCPUs parses a CPU count such as "0.5" into nano-CPUs.
func ParseCPUs(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number of CPUs such as 0.5 or 2")
	}
	n := int64(math.Round(f * 1e9))
	if f <= 0 || n < 1e7 {
		return 0, fmt.Errorf("want at least 0.01 CPUs")
	}
	if f > 1e6 {
		return 0, fmt.Errorf("too many CPUs")
	}
	return n, nil
}
