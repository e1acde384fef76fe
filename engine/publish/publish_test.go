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

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// Write pushes to every destination and writes each result file: the
// digest, the URL, the lists Tekton and Kaniko's users read, and
// $BUILDER_OUTPUT/images as Kaniko writes it.
func TestWriteResultFiles(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
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

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
