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
		_, _ = c.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true})
	})
	if _, err := c.ImageInspect(t.Context(), tag); err != nil {
		t.Fatalf("ImageInspect(%s) after Build: %v", tag, err)
	}
}
