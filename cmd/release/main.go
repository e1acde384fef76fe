// Command release pushes the images `make release` built as image indexes
// and writes the release.json that names them (cmd/release/release.sh runs
// it; cmd/catalog then renders the catalog from that file):
//
//	go run ./cmd/release -registry REGISTRY -version VERSION -layouts DIR -out catalog/release.json
//
// DIR/<arch>/<variant> is an OCI image layout holding one image, as
// cmd/executor/image/build.sh writes with LAYOUT=1, for every arch (amd64,
// arm64) and variant (release, debug, warmer). Each variant is pushed as an
// OCI image index of its two platforms:
//
//	release  REGISTRY/executor:VERSION
//	debug    REGISTRY/executor:VERSION-debug
//	warmer   REGISTRY/warmer:VERSION
//
// Credentials come from $DOCKER_CONFIG/config.json. Registries on
// localhost, 127.0.0.1 and private addresses are reached over plain HTTP,
// any other with -insecure.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kaniko-build/kaniko-build/catalog"
)

// Arches are the platforms of a release, linux/<arch>.
var Arches = []string{"amd64", "arm64"}

func main() {
	registry := flag.String("registry", "", "where to push, e.g. registry.example.com/team")
	version := flag.String("version", "", "the release's tag, e.g. v0.1.0")
	layouts := flag.String("layouts", "_out/release/layouts", "directory of the OCI layouts <arch>/<variant>")
	out := flag.String("out", "catalog/release.json", "where to write release.json")
	insecure := flag.Bool("insecure", false, "reach the registry over plain HTTP")
	flag.Parse()
	if *registry == "" || *version == "" {
		fmt.Fprintln(os.Stderr, "release: -registry and -version are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := push(ctx, *registry, *version, *layouts, *insecure)
	if err == nil {
		err = os.WriteFile(*out, r.JSON(), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Printf("executor %s\ndebug    %s\nwarmer   %s\n", r.Executor, r.Debug, r.Warmer)
}

// push pushes the three indexes and returns the release naming them.
func push(ctx context.Context, registry, version, layouts string, insecure bool) (catalog.Release, error) {
	r := catalog.Release{Version: version}
	var nameOpts []name.Option
	if insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	for _, v := range []struct {
		variant, repo, tag string
		ref                *string
	}{
		{"release", "executor", version, &r.Executor},
		{"debug", "executor", version + "-debug", &r.Debug},
		{"warmer", "warmer", version, &r.Warmer},
	} {
		s := registry + "/" + v.repo + ":" + v.tag
		tag, err := name.NewTag(s, nameOpts...)
		if err != nil {
			return r, fmt.Errorf("naming the %s image: %w", v.variant, err)
		}
		idx, err := index(layouts, v.variant)
		if err != nil {
			return r, err
		}
		digest, err := idx.Digest()
		if err != nil {
			return r, fmt.Errorf("the %s index: %w", v.variant, err)
		}
		if err := remote.WriteIndex(tag, idx, opts...); err != nil {
			return r, fmt.Errorf("pushing %s: %w", s, err)
		}
		got, err := remote.Head(tag, opts...)
		if err != nil {
			return r, fmt.Errorf("reading back %s: %w", s, err)
		}
		if got.Digest != digest {
			return r, fmt.Errorf("pushed %s as %s, the registry has %s", s, digest, got.Digest)
		}
		*v.ref = s + "@" + digest.String()
	}
	_, err := catalog.ParseRelease(r.JSON())
	return r, err
}

// index makes the OCI image index of a variant: one manifest per arch, from
// the layouts.
func index(layouts, variant string) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range Arches {
		dir := filepath.Join(layouts, arch, variant)
		img, err := layoutImage(dir)
		if err != nil {
			return nil, fmt.Errorf("reading the %s image for linux/%s from %s: %w", variant, arch, dir, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		if cf.OS != "linux" || cf.Architecture != arch {
			return nil, fmt.Errorf("%s: the image is for %s/%s, want linux/%s", dir, cf.OS, cf.Architecture, arch)
		}
		if mt, err := img.MediaType(); err != nil || mt != types.OCIManifestSchema1 {
			return nil, fmt.Errorf("%s: manifest media type %q (%v), want %s", dir, mt, err, types.OCIManifestSchema1)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx, nil
}

// layoutImage returns the one image of an OCI layout.
func layoutImage(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("it holds %d manifests, want 1", len(m.Manifests))
	}
	return ii.Image(m.Manifests[0].Digest)
}
