package index

import (
	"context"
	"io"
	stdlog "log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/engine/publish"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// pushImage pushes a random image whose config names the platform and
// returns it by digest.
func pushImage(t *testing.T, repo string, p v1.Platform) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := repo + "@" + d.String()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := ggcrremote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func startRegistry(t *testing.T) string {
	srv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Two platforms' images become one index under each destination, in the
// format asked for, each under its platform; the digest file names it.
func TestJoinPushesAnIndex(t *testing.T) {
	host := startRegistry(t)
	amd := pushImage(t, host+"/app", v1.Platform{OS: "linux", Architecture: "amd64"})
	arm := pushImage(t, host+"/app", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	for _, format := range []string{"oci", "docker"} {
		t.Run(format, func(t *testing.T) {
			idx, err := Join(context.Background(), Options{Images: []string{amd, arm}, Format: format}, remote.Options{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			o := publish.Options{Destinations: []string{host + "/app:" + format}, DigestFile: filepath.Join(dir, "digest")}
			if _, err := publish.WriteIndex(context.Background(), idx, o, remote.Options{}, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			r, _ := name.ParseReference(host + "/app:" + format)
			pulled, err := ggcrremote.Index(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Index(pulled); err != nil {
				t.Fatal(err)
			}
			want := map[string]types.MediaType{"oci": types.OCIImageIndex, "docker": types.DockerManifestList}[format]
			if mt, _ := pulled.MediaType(); mt != want {
				t.Errorf("media type %s, want %s", mt, want)
			}
			m, err := pulled.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range m.Manifests {
				got = append(got, platformKey(d.Platform)+"="+host+"/app@"+d.Digest.String())
			}
			if w := "linux/amd64=" + amd + " linux/arm/v7=" + arm; strings.Join(got, " ") != w {
				t.Errorf("manifests %s, want %s", strings.Join(got, " "), w)
			}
			d, _ := pulled.Digest()
			if b, _ := os.ReadFile(filepath.Join(dir, "digest")); string(b) != d.String() {
				t.Errorf("digest file %q, want %s", b, d)
			}
		})
	}
}

// Bad input fails before anything is pushed, naming the --image.
func TestJoinRefusesBadImages(t *testing.T) {
	host := startRegistry(t)
	amd := pushImage(t, host+"/app", v1.Platform{OS: "linux", Architecture: "amd64"})
	amd2 := pushImage(t, host+"/app", v1.Platform{OS: "linux", Architecture: "amd64"})
	noPlatform := pushImage(t, host+"/app", v1.Platform{})
	idx := mutate.AppendManifests(empty.Index)
	ir, _ := name.ParseReference(host + "/app:index")
	if err := ggcrremote.WriteIndex(ir, idx); err != nil {
		t.Fatal(err)
	}
	id, _ := idx.Digest()
	missing := host + "/app@sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		images []string
		format string
		want   string
	}{
		{nil, "", "no image to join"},
		{[]string{host + "/app:latest"}, "", "by digest"},
		{[]string{amd, amd}, "", "is already in the index, from --image " + amd},
		{[]string{amd, amd2}, "", "linux/amd64 is already in the index"},
		{[]string{noPlatform}, "", "names no platform"},
		{[]string{host + "/app@" + id.String()}, "", "is an index"},
		{[]string{missing}, "", missing},
		{[]string{amd}, "zip", `--image-format "zip"`},
	} {
		_, err := Join(context.Background(), Options{Images: tc.images, Format: tc.format}, remote.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %s: error %v, want it to say %q", tc.images, tc.format, err, tc.want)
		}
	}
}
