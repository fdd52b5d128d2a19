package imagebuild_test

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/imagebuild"
)

func TestBuild_NoDockerfile(t *testing.T) {
	t.Parallel()
	err := imagebuild.Build(t.Context(), nil, "x:dev", map[string][]byte{"function": {1}})
	if err == nil || !strings.Contains(err.Error(), "no Dockerfile") {
		t.Fatalf("Build() error = %v, want one saying the context has no Dockerfile", err)
	}
}

func TestBuild_FailureInStream(t *testing.T) {
	t.Parallel()
	c := containertest.RequireDocker(t)
	// A step that fails: the engine answers 200 and reports the error in
	// the JSON stream, which Build must turn into an error.
	err := imagebuild.Build(t.Context(), c, "edgeless-imagebuild-test:dev", map[string][]byte{
		"Dockerfile": []byte("FROM scratch\nCOPY missing /missing\n"),
	})
	if err == nil || !strings.Contains(strings.SplitN(err.Error(), "\n", 2)[0], "missing") {
		t.Fatalf("Build() error = %v, want the builder's failure naming the missing file", err)
	}
}

func TestBuild_Scratch(t *testing.T) {
	t.Parallel()
	c := containertest.RequireDocker(t)
	const tag = "edgeless-imagebuild-ok:dev"
	err := imagebuild.Build(t.Context(), c, tag, map[string][]byte{
		"Dockerfile": []byte("FROM scratch\nCOPY data.txt /data.txt\n"),
		"data.txt":   []byte("hello\n"),
	})
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	t.Cleanup(func() {
		_, _ = c.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	if _, err := c.ImageInspect(t.Context(), tag); err != nil {
		t.Fatalf("ImageInspect(%s) after Build: %v", tag, err)
	}
}

// TestBuild_RebuildLeavesNoDanglingImage rebuilds a tag with other content:
// the image the tag named before, now untagged, is removed with its parent
// layers; an old image that keeps another tag stays.
func TestBuild_RebuildLeavesNoDanglingImage(t *testing.T) {
	t.Parallel()
	c := containertest.RequireDocker(t)
	tag := "edgeless-imagebuild-rebuild:" + containertest.NewNodeID()[:8]
	keep := tag + "-keep"
	build := func(content string) string {
		t.Helper()
		err := imagebuild.Build(t.Context(), c, tag, map[string][]byte{
			"Dockerfile": []byte("FROM scratch\nCOPY data.txt /data.txt\nCOPY more.txt /more.txt\n"),
			"data.txt":   []byte(content),
			"more.txt":   []byte(content),
		})
		if err != nil {
			t.Fatalf("Build(%q) error = %v", content, err)
		}
		res, err := c.ImageInspect(t.Context(), tag)
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	t.Cleanup(func() {
		for _, ref := range []string{tag, keep} {
			_, _ = c.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	})
	first := build("one " + tag)
	// The image ids of the first build's layers (the classic builder keeps
	// one image per step; "<missing>" for layers it did not build here).
	hist, err := c.ImageHistory(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	var layers []string
	for _, h := range hist.Items {
		if strings.HasPrefix(h.ID, "sha256:") {
			layers = append(layers, h.ID)
		}
	}
	second := build("two " + tag)
	if second == first {
		t.Fatal("the rebuild with other content produced the same image")
	}
	for _, id := range append([]string{first}, layers...) {
		if _, err := c.ImageInspect(t.Context(), id); err == nil {
			t.Errorf("image %s of the first build is still there after the rebuild, untagged", id)
		}
	}
	if _, err := c.ImageTag(t.Context(), client.ImageTagOptions{Source: second, Target: keep}); err != nil {
		t.Fatal(err)
	}
	build("three " + tag)
	if _, err := c.ImageInspect(t.Context(), second); err != nil {
		t.Errorf("image %s, still tagged %s, was removed by the rebuild: %v", second, keep, err)
	}
}
