package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TarballName is the file name of a target's tarball.
func TarballName(version string, t Target) string {
	return "edgeless_" + version + "_linux_" + t.Name + ".tar.gz"
}

// writeTarball packs the binaries in bin, the README and the systemd unit
// into Out/<TarballName>, under one top directory. The archive is
// reproducible: files in a fixed order, o.Time as every time, owner root,
// fixed modes, and a gzip header with no name and no time.
func writeTarball(o Options, t Target, bin string) (string, error) {
	top := strings.TrimSuffix(TarballName(o.Version, t), ".tar.gz")
	type entry struct {
		name string
		mode int64
		data []byte
	}
	var entries []entry
	for _, b := range Binaries {
		data, err := os.ReadFile(filepath.Join(bin, b))
		if err != nil {
			return "", err
		}
		entries = append(entries, entry{b, 0o755, data})
	}
	readme, err := os.ReadFile(filepath.Join(o.Root, "README.md"))
	if err != nil {
		return "", err
	}
	entries = append(entries,
		entry{"README.md", 0o644, readme},
		entry{"systemd/edgeless-node.service", 0o644, unitFile},
		entry{"systemd/edgeless-node.service.d/10-restart-backoff.conf", 0o644, backoffDropIn},
	)
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return "", err
	}
	// zw.Header is left empty: no name, ModTime zero (written as 0).
	tw := tar.NewWriter(zw)
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: o.Time.UTC(),
			Uname: "root", Gname: "root", Format: tar.FormatPAX}
	}
	dirs := map[string]bool{}
	addDir := func(d string) error {
		if dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(hdr(d+"/", 0o755, tar.TypeDir, 0))
	}
	if err := addDir(top); err != nil {
		return "", err
	}
	for _, e := range entries {
		name := top + "/" + e.name
		if d := filepath.Dir(name); d != top {
			if err := addDir(d); err != nil {
				return "", err
			}
		}
		if err := tw.WriteHeader(hdr(name, e.mode, tar.TypeReg, int64(len(e.data)))); err != nil {
			return "", err
		}
		if _, err := tw.Write(e.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	path := filepath.Join(o.Out, TarballName(o.Version, t))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// writeSums writes dir/SHA256SUMS for the artifacts, in sha256sum's format
// ("<hex>  <name>"), sorted by name.
func writeSums(dir string, arts []Artifact) error {
	names := make([]string, 0, len(arts))
	for _, a := range arts {
		names = append(names, filepath.Base(a.Path))
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}
