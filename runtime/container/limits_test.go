package container

import (
	"errors"
	"testing"
)

func TestParseMemory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		{"268435456", 256 << 20},
		{"256MiB", 256 << 20},
		{"256mib", 256 << 20},
		{"256m", 256 << 20},
		{"256 MiB", 256 << 20},
		{"1g", 1 << 30},
		{"1GiB", 1 << 30},
		{"1.5GiB", 3 << 29},
		{"100MB", 100e6},
		{"8192k", 8 << 20},
		{"6MiB", 6 << 20},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "lots", "12XB", "1MiB", "-5", "MiB", "1e999"} {
		if n, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", bad, n)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"1024", 1024, false}, {"256MiB", 256 << 20, false}, {"256m", 256 << 20, false}, {"1GB", 1e9, false},
		{"1.5GiB", 3 << 29, false}, {" 2 KiB ", 2048, false}, {"1KiB", 1024, false}, {"2Ki", 2048, false},
		{"", 0, true}, {"-1", 0, true}, {"MiB", 0, true}, {"1e400", 0, true}, {"5XB", 0, true},
	} {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0.5": 5e8, "2": 2e9, "0.01": 1e7, " 1.25 ": 1.25e9} {
		if got, err := ParseCPUs(in); err != nil || got != want {
			t.Errorf("ParseCPUs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "0.001", "NaN", "Inf", "two"} {
		if n, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q) = %d, want an error", bad, n)
		}
	}
}

func TestLimitsFromAnnotations(t *testing.T) {
	t.Parallel()
	def := Limits{MemoryBytes: 512 << 20, NanoCPUs: 1e9, PidsLimit: 100}
	got, err := LimitsFromAnnotations(def, map[string]string{AnnotationMemory: "64MiB", AnnotationPids: "10", "other": "x"})
	want := Limits{MemoryBytes: 64 << 20, NanoCPUs: 1e9, PidsLimit: 10}
	if err != nil || got != want {
		t.Fatalf("LimitsFromAnnotations = %+v, %v; want %+v", got, err, want)
	}
	if got, err := LimitsFromAnnotations(def, nil); err != nil || got != def {
		t.Fatalf("LimitsFromAnnotations(nil) = %+v, %v; want the defaults", got, err)
	}
	for ann, val := range map[string]string{AnnotationMemory: "1KiB", AnnotationCPUs: "x", AnnotationPids: "-3"} {
		_, err := LimitsFromAnnotations(def, map[string]string{ann: val})
		if !errors.Is(err, ErrBadAnnotation) {
			t.Errorf("LimitsFromAnnotations(%s=%q) = %v, want ErrBadAnnotation", ann, val, err)
		}
	}
	if p, err := portFromAnnotations(map[string]string{AnnotationPort: "8080"}); err != nil || p != 8080 {
		t.Errorf("portFromAnnotations(8080) = %d, %v", p, err)
	}
	if p, err := portFromAnnotations(nil); err != nil || p != DefaultFunctionPort {
		t.Errorf("portFromAnnotations(nil) = %d, %v; want %d", p, err, DefaultFunctionPort)
	}
	if _, err := portFromAnnotations(map[string]string{AnnotationPort: "70000"}); !errors.Is(err, ErrBadAnnotation) {
		t.Errorf("portFromAnnotations(70000) = %v, want ErrBadAnnotation", err)
	}
}
