package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// writeLayouts writes small OCI images for every arch and variant, as
// build.sh's LAYOUT=1 does; arch overrides the config's architecture.
func writeLayouts(t *testing.T, dir string, arch func(string) string) {
	t.Helper()
	for _, a := range Arches {
		for _, variant := range []string{"release", "debug", "warmer"} {
			img, err := random.Image(64, 1)
			if err != nil {
				t.Fatal(err)
			}
			img = mutate.MediaType(mutate.ConfigMediaType(img, types.OCIConfigJSON), types.OCIManifestSchema1)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			cf.OS, cf.Architecture = "linux", arch(a)
			if img, err = mutate.ConfigFile(img, cf); err != nil {
				t.Fatal(err)
			}
			p, err := layout.Write(filepath.Join(dir, a, variant), empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AppendImage(img); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestPushMakesAnIndexPerVariant(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://") + "/team"
	dir := t.TempDir()
	writeLayouts(t, dir, func(a string) string { return a })
	r, err := push(context.Background(), reg, "v1.2.3", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for ref, tag := range map[string]string{
		r.Executor: reg + "/executor:v1.2.3@",
		r.Debug:    reg + "/executor:v1.2.3-debug@",
		r.Warmer:   reg + "/warmer:v1.2.3@",
	} {
		if !strings.HasPrefix(ref, tag) {
			t.Errorf("%s, want %s<digest>", ref, tag)
		}
		d, err := name.NewDigest(ref)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(idx); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, desc := range m.Manifests {
			got = append(got, desc.Platform.String())
		}
		if strings.Join(got, ",") != "linux/amd64,linux/arm64" || m.MediaType != types.OCIImageIndex {
			t.Errorf("%s: %s of %v", ref, m.MediaType, got)
		}
	}
}

func TestPushRefusesAnImageOfAnotherPlatform(t *testing.T) {
	dir := t.TempDir()
	writeLayouts(t, dir, func(string) string { return "amd64" })
	_, err := push(context.Background(), "127.0.0.1:1/team", "v1", dir, false)
	if err == nil || !strings.Contains(err.Error(), "want linux/arm64") {
		t.Errorf("an amd64 image as arm64: %v", err)
	}
	_, err = push(context.Background(), "127.0.0.1:1/team", "v1", t.TempDir(), false)
	if err == nil || !strings.Contains(err.Error(), "reading the release image for linux/amd64") {
		t.Errorf("no layouts: %v", err)
	}
}
