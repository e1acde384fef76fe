package imagecmp

import (
	"archive/tar"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// fixture is an image with what the mutations change: ports, volumes,
// labels (one empty), a whiteout, a hard link, a symlink, xattrs, empty
// history entries, and a root directory entry.
func fixture(t *testing.T) v1.Image {
	t.Helper()
	when := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	base := layer(t,
		ent{name: "./", typ: tar.TypeDir, mode: 0o755},
		ent{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, body: "root:x:0:0::/root:/bin/sh\n"},
		ent{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/tool", typ: tar.TypeReg, mode: 0o755, body: "tool", pax: map[string]string{xattrPrefix + "security.capability": "\x01"}},
		ent{name: "data/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "data/gone", typ: tar.TypeReg, mode: 0o644, body: "gone\n"},
	)
	top := layer(t,
		ent{name: "data/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "data/.wh.gone", typ: tar.TypeReg},
		ent{name: "data/a", typ: tar.TypeReg, mode: 0o644, body: "a\n"},
		ent{name: "data/b", typ: tar.TypeLink, link: "data/a"},
		ent{name: "data/link", typ: tar.TypeSymlink, link: "a", mode: 0o777},
	)
	img := image(t, v1.Config{
		Env:          []string{"PATH=/bin"},
		Cmd:          []string{"sh"},
		WorkingDir:   "/data",
		User:         "1000",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
		Labels:       map[string]string{"a": "1", "empty": ""},
	}, base, top)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: when}
	cf.History = []v1.History{{CreatedBy: "COPY rootfs /"}, {CreatedBy: "RUN /bin/sh -c make data"},
		{CreatedBy: "EXPOSE [80/tcp]", EmptyLayer: true}, {CreatedBy: "LABEL a=1 empty=", EmptyLayer: true}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	// Pushed and pulled back through an in-process registry, as the
	// conformance suite reads images.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/fixture:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	if img, err = remote.Image(ref); err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCompareCatchesEveryMutation(t *testing.T) {
	img := fixture(t)
	ref, err := Read(img)
	if err != nil {
		t.Fatal(err)
	}
	if diffs, err := Compare("a", ref, "b", ref, Options{}); err != nil || len(diffs) > 0 {
		t.Fatalf("an image differs from itself: %v %v", diffs, err)
	}
	for _, m := range Mutations() {
		t.Run(m.Name, func(t *testing.T) {
			mutated, err := m.Apply(img)
			if err != nil {
				t.Fatalf("applying: %v", err)
			}
			got, err := Read(mutated)
			if err != nil {
				t.Fatal(err)
			}
			diffs, err := Compare("reference", ref, "mutated", got, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) == 0 {
				t.Errorf("Compare found no difference: a bug in imagecmp")
			}
			t.Logf("%d differences: %q", len(diffs), diffs)
		})
	}
}
