package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/engine"
)

// ecrImmutable answers as Amazon ECR with immutable tags does: a manifest
// PUT to a tag that exists is refused with TAG_INVALID.
func ecrImmutable(reg http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, tag, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		if ok && r.Method == http.MethodPut && !strings.HasPrefix(tag, "sha256:") {
			head := httptest.NewRecorder()
			reg.ServeHTTP(head, httptest.NewRequest(http.MethodHead, r.URL.Path, nil))
			if head.Code == http.StatusOK {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"errors":[{"code":"TAG_INVALID","message":"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable."}]}`, tag, repo)
				return
			}
		}
		reg.ServeHTTP(w, r)
	})
}

// --push-ignore-immutable-tag-errors: an immutable tag keeps its image,
// the build succeeds and says so, the other destinations are pushed.
func TestPushIgnoreImmutableTagErrors(t *testing.T) {
	srv := httptest.NewServer(ecrImmutable(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	build := func(content string, keep bool, dests ...string) (*engine.Result, string, error) {
		dir := t.TempDir()
		for n, d := range map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": content} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(d), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		res, err := engine.Build(context.Background(), engine.Options{
			Context:  engine.ContextOptions{Source: dir, Dockerfile: "Dockerfile"},
			Output:   engine.OutputOptions{Destinations: dests, KeepImmutableTags: keep},
			Root:     engine.RootOptions{TempDir: t.TempDir()},
			Progress: &out,
		})
		return res, out.String(), err
	}
	one, two := host+"/imm/app:1", host+"/imm/app:2"
	first, _, err := build("first", false, one)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := build("second", false, one, two); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("err = %v, want the registry's immutable tag error", err)
	}
	second, out, err := build("second", true, one, two)
	if err != nil {
		t.Fatalf("with --push-ignore-immutable-tag-errors: %v\n%s", err, out)
	}
	if !strings.Contains(out, "kept "+one) || strings.Count(out, "\npushed ") != 1 {
		t.Errorf("the log does not say which tag was kept, or says it was pushed:\n%s", out)
	}
	for ref, want := range map[string]string{one: first.Digest.String(), two: second.Digest.String()} {
		r, _ := name.ParseReference(ref)
		d, err := remote.Head(r)
		if err != nil || d.Digest.String() != want {
			t.Errorf("%s: %v %v, want %s", ref, d, err, want)
		}
	}
	if len(second.Pushed) != 1 || !strings.HasSuffix(second.Pushed[0], "@"+second.Digest.String()) {
		t.Errorf("Pushed = %v, want the one destination pushed", second.Pushed)
	}
}
