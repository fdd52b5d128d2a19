// Package imagebuild builds container images locally through the Docker
// Engine API, with no registry: a build context is a handful of files (a
// Dockerfile and, typically, one static binary) sent as a tar stream to the
// engine's builder.
package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Builder is the part of the Engine API that Build uses.
type Builder interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageRemove(ctx context.Context, imageID string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
}

// Build builds an image tagged tag from a build context holding files (name
// to content; one of them the Dockerfile). Files named without a dot (such
// as a binary named "function") are executable. Nothing is pulled unless the
// Dockerfile asks for a base image, so a `FROM scratch` image builds on an
// engine with no images and no registry.
//
// When the build moves tag away from an image that then has no tag left,
// that image and its untagged parent layers are removed, so that rebuilding
// (e.g. with a binary built differently) leaves no dangling "<none>" image.
// An image still used by a container stays.
func Build(ctx context.Context, b Builder, tag string, files map[string][]byte) error {
	if _, ok := files["Dockerfile"]; !ok {
		return fmt.Errorf("build image %s: the build context has no Dockerfile", tag)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		mode := int64(0o644)
		if n != "Dockerfile" && !strings.Contains(n, ".") {
			mode = 0o755
		}
		hdr := &tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build image %s: %w", tag, err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return fmt.Errorf("build image %s: %w", tag, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	old := imageID(ctx, b, tag)
	res, err := b.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	err = readBuildStream(tag, res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if old != "" && old != imageID(ctx, b, tag) {
		removeIfUntagged(ctx, b, old)
	}
	return nil
}

// imageID returns the id of the image ref names, or "" when there is none.
func imageID(ctx context.Context, b Builder, ref string) string {
	res, err := b.ImageInspect(ctx, ref)
	if err != nil {
		return ""
	}
	return res.ID
}

// removeIfUntagged removes image id and its untagged parents when no tag
// names it any more. Failures are left alone: the image may be used by a
// container (of this user or another), or another build may have tagged it
// meanwhile; the engine refuses to remove it then, as it should.
func removeIfUntagged(ctx context.Context, b Builder, id string) {
	res, err := b.ImageInspect(ctx, id)
	if err != nil || len(res.RepoTags) > 0 {
		return
	}
	_, _ = b.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true})
}

// readBuildStream reads the builder's JSON message stream, in which the
// build reports its failures (the HTTP status is 200 either way).
func readBuildStream(tag string, r io.Reader) error {
	var log strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		log.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("build image %s: %s\n%s", tag, m.Error, log.String())
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	return nil
}
