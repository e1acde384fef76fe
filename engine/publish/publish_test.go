package publish

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
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// Write pushes to every destination and writes each result file: the
// digest, the URL, the lists Tekton and Kaniko's users read, and
// $BUILDER_OUTPUT/images as Kaniko writes it.
func TestWriteResultFiles(t *testing.T) {
	host, img, d := registryAndImage(t)
	dir, out := t.TempDir(), t.TempDir()
	o := Options{
		Destinations:           []string{host + "/app/one:1", host + "/app/two:v2"},
		DigestFile:             filepath.Join(dir, "digest"),
		ImageURLFile:           filepath.Join(dir, "url"),
		ImagesFile:             filepath.Join(dir, "images"),
		ImageNameDigestFile:    filepath.Join(dir, "name-digest"),
		ImageNameTagDigestFile: filepath.Join(dir, "name-tag-digest"),
	}
	t.Setenv("BUILDER_OUTPUT", out)
	if err := o.Finish(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pushed, err := Write(context.Background(), img, o, remote.Options{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	one, two := host+"/app/one", host+"/app/two"
	if want := []string{one + "@" + d.String(), two + "@" + d.String()}; strings.Join(pushed, " ") != strings.Join(want, " ") {
		t.Errorf("pushed %q, want %q", pushed, want)
	}
	for file, want := range map[string]string{
		"digest":          d.String(),
		"url":             host + "/app/one:1",
		"images":          one + ":1@" + d.String() + "\n" + two + ":v2@" + d.String(),
		"name-digest":     one + "@" + d.String() + "\n" + two + "@" + d.String(),
		"name-tag-digest": one + ":1@" + d.String() + "\n" + two + ":v2@" + d.String(),
	} {
		if got := readFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
	want := `{"digest":"` + d.String() + `","name":"` + one + `:1"}` + "\n" +
		`{"digest":"` + d.String() + `","name":"` + two + `:v2"}` + "\n"
	if got := readFile(t, filepath.Join(out, "images")); got != want {
		t.Errorf("$BUILDER_OUTPUT/images: %q, want %q", got, want)
	}

	// Not pushed: no $BUILDER_OUTPUT/images.
	os.Remove(filepath.Join(out, "images"))
	o.NoPush = true
	if _, err := Write(context.Background(), img, o, remote.Options{}, nil, log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "images")); !os.IsNotExist(err) {
		t.Errorf("--no-push wrote $BUILDER_OUTPUT/images (%v)", err)
	}
}

// registryAndImage starts a registry for the test and makes a valid
// image to push there.
func registryAndImage(t *testing.T) (host string, img v1.Image, d v1.Hash) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	if d, err = img.Digest(); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(srv.URL, "http://"), img, d
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --push-by-digest puts the manifest under its digest in each repository
// and tags nothing; the result files name the repositories by digest.
func TestWriteByDigestTagsNothing(t *testing.T) {
	host, img, d := registryAndImage(t)
	dir := t.TempDir()
	repo := host + "/app/arm64"
	o := Options{
		Destinations: []string{repo},
		ByDigest:     true,
		DigestFile:   filepath.Join(dir, "digest"),
		ImageURLFile: filepath.Join(dir, "url"),
		ImagesFile:   filepath.Join(dir, "images"),
	}
	if err := o.Finish(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pushed, err := Write(context.Background(), img, o, remote.Options{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := repo + "@" + d.String(); len(pushed) != 1 || pushed[0] != want {
		t.Errorf("pushed %q, want [%s]", pushed, want)
	}
	for file, want := range map[string]string{"digest": d.String(), "url": repo, "images": repo + "@" + d.String()} {
		if got := readFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := ggcrremote.List(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 0 {
		t.Errorf("tags %q, want none", tags)
	}
	got, err := ggcrremote.Image(r.Digest(d.String()))
	if err != nil {
		t.Fatalf("pulling by digest: %v", err)
	}
	if err := validate.Image(got); err != nil {
		t.Error(err)
	}
}

func TestByDigestWantsRepositories(t *testing.T) {
	for _, dest := range []string{"localhost:5000/app:v1", "localhost:5000/app@sha256:" + strings.Repeat("a", 64)} {
		o := Options{Destinations: []string{dest}, ByDigest: true}
		err := o.Finish()
		if err == nil || !strings.Contains(err.Error(), "--destination="+dest) || !strings.Contains(err.Error(), "--push-by-digest") {
			t.Errorf("%s: %v, want an error naming the flag and the destination", dest, err)
		}
	}
}
