//go:build e2e

package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The join step in the image: two builds, one per platform, each pushed
// by digest only; `executor index` joins them under a tag, writes the
// index digest, and a second join of the same images pushes the same
// index. Joining one platform twice tags nothing.
func TestImageIndexJoinsPlatforms(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nARG TARGETPLATFORM\nCOPY f /f\nLABEL platform=$TARGETPLATFORM\n",
		"f":          "f\n",
	})
	repo := h.reg.Host + "/image-index/app"
	build := func(platform string) string {
		t.Helper()
		c := &container{
			args: []string{"--context", "/workspace", "--custom-platform", platform, "--destination", repo, "--push-by-digest",
				"--digest-file", "/workspace/digest-" + strings.ReplaceAll(platform, "/", "-")},
			volumes: []string{dir + ":/workspace"},
		}
		if out, err := h.runContainer(ctx, c); err != nil {
			t.Fatalf("building %s: %v\n%s", platform, err, tail(out, 3000))
		}
		d, err := os.ReadFile(filepath.Join(dir, "digest-"+strings.ReplaceAll(platform, "/", "-")))
		if err != nil {
			t.Fatal(err)
		}
		return repo + "@" + string(d)
	}
	amd, arm := build("linux/amd64"), build("linux/arm64")
	// The join runs as the catalog's index Task and template run it: the
	// non-root user, no capabilities, no privilege escalation.
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	join := func(dest string, images ...string) (string, error) {
		args := []string{"index", "--destination", dest, "--digest-file", "/out/index-digest"}
		for _, im := range images {
			args = append(args, "--image", im)
		}
		return h.runContainer(ctx, &container{args: args, volumes: []string{outDir + ":/out"},
			flags: []string{"--user", "65532:65532", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"}})
	}
	r0, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	// Distribution answers NAME_UNKNOWN for a repository with no tags.
	var te *transport.Error
	if tags, err := remote.List(r0); len(tags) != 0 || err != nil && !(errors.As(err, &te) && te.StatusCode == http.StatusNotFound) {
		t.Errorf("pushed by digest, the repository has tags %q (%v)", tags, err)
	}
	var digests []string
	for range 2 {
		if out, err := join(repo+":multi", amd, arm); err != nil {
			t.Fatalf("executor index: %v\n%s", err, tail(out, 3000))
		}
		d, err := os.ReadFile(filepath.Join(outDir, "index-digest"))
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, string(d))
	}
	if digests[0] != digests[1] {
		t.Errorf("joining the same images twice gave %s, then %s", digests[0], digests[1])
	}
	r, err := name.ParseReference(repo + ":multi")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d.String() != digests[0] {
		t.Errorf("the tag holds %s, the digest file says %s", d, digests[0])
	}
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("media type %s", mt)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"amd64": amd, "arm64": arm}
	if len(m.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(m.Manifests))
	}
	for _, desc := range m.Manifests {
		p := desc.Platform
		if p == nil || p.OS != "linux" || repo+"@"+desc.Digest.String() != want[p.Architecture] {
			t.Errorf("manifest %s for %v, want %v", desc.Digest, p, want)
			continue
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != p.Architecture || cfg.Config.Labels["platform"] != "linux/"+p.Architecture {
			t.Errorf("%s: config says %s, label %q", p.Architecture, cfg.Architecture, cfg.Config.Labels["platform"])
		}
	}

	out, err := join(repo+":bad", amd, amd)
	if err == nil || !strings.Contains(out, "is already in the index") {
		t.Errorf("one image twice: %v\n%s", err, tail(out, 2000))
	}
	bad, _ := name.ParseReference(repo + ":bad")
	if _, err := remote.Head(bad); err == nil {
		t.Error("a failed join tagged :bad")
	}
}
