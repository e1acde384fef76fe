//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// executorLines is what the executor wrote: the output after the last
// docker command runContainer logged.
func executorLines(out string) []string {
	if i := strings.LastIndex(out, "$ docker start"); i >= 0 {
		out = out[i:]
		if _, rest, ok := strings.Cut(out, "\n"); ok {
			out = rest
		}
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// With --log-format=json every line the executor image writes is a JSON
// object: step events, RUN output tagged by step, the push, the digest,
// and a failure's error.
func TestImageJSONLog(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM " + h.bases["busybox"] + "\nRUN echo hello from run && echo to stderr >&2\nCOPY f /f\n",
		"f":          "f\n",
		"bad":        "FROM " + h.bases["busybox"] + "\nRUN echo failing && exit 3\n",
	})
	ref := h.reg.Host + "/image-logs/json:latest"
	run := func(t *testing.T, extra ...string) ([]map[string]any, error) {
		t.Helper()
		c := &container{
			args:    append([]string{"--context", "/workspace", "--destination", ref, "--log-format=json"}, extra...),
			volumes: []string{dir + ":/workspace"},
		}
		out, err := h.runContainer(ctx, c)
		var recs []map[string]any
		for _, line := range executorLines(out) {
			var rec map[string]any
			if jerr := json.Unmarshal([]byte(line), &rec); jerr != nil {
				t.Fatalf("a line that is not a JSON object: %q\n%s", line, tail(out, 4000))
			}
			recs = append(recs, rec)
		}
		return recs, err
	}
	recs, err := run(t)
	if err != nil {
		t.Fatalf("executor: %v", err)
	}
	seen := map[string]int{}
	var output []string
	for _, r := range recs {
		ev, _ := r["event"].(string)
		seen[ev]++
		if ev == "output" {
			if r["step"] != float64(1) || r["stage"] != "0" {
				t.Errorf("RUN output not tagged with its stage and step: %v", r)
			}
			output = append(output, fmt.Sprint(r["stream"], ": ", r["msg"]))
		}
		if ev == "step" {
			if d, ok := r["duration_ms"].(float64); !ok || d < 0 {
				t.Errorf("step event without a duration: %v", r)
			}
		}
	}
	for ev, n := range map[string]int{"stage.start": 1, "stage": 1, "step.start": 2, "step": 2, "pushed": 1, "built": 1} {
		if seen[ev] != n {
			t.Errorf("%d %q events, want %d (all: %v)", seen[ev], ev, n, seen)
		}
	}
	sort.Strings(output) // the two streams are read apart
	if got := strings.Join(output, "|"); got != "stderr: to stderr|stdout: hello from run" {
		t.Errorf("RUN output events %q", got)
	}
	recs, err = run(t, "--dockerfile", "bad")
	if exitCode(err) != 3 {
		t.Fatalf("exit %v, want the RUN's 3", err)
	}
	last := recs[len(recs)-1]
	if last["event"] != "error" || !strings.Contains(fmt.Sprint(last["msg"]), "bad:2: RUN") {
		t.Errorf("the last line is not the error naming bad:2: %v", last)
	}
}

// --push-ignore-immutable-tag-errors through a registry that answers as
// Amazon ECR does for an immutable tag.
func TestImageImmutableTag(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	target, err := url.Parse("http://" + h.reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, tag, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		if ok && r.Method == http.MethodPut && !strings.HasPrefix(tag, "sha256:") {
			head, err := http.Head("http://" + h.reg.Host + r.URL.Path)
			if err == nil {
				head.Body.Close()
			}
			if err == nil && head.StatusCode == http.StatusOK {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"errors":[{"code":"TAG_INVALID","message":"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable."}]}`, tag, repo)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	one, two := host+"/image-immutable/app:1", host+"/image-immutable/app:2"
	build := func(t *testing.T, content string, args ...string) (string, error) {
		t.Helper()
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + h.bases["busybox"] + "\nCOPY f /f\n", "f": content})
		c := &container{args: append([]string{"--context", "/workspace", "--insecure-registry", host}, args...),
			volumes: []string{dir + ":/workspace"}}
		return h.runContainer(ctx, c)
	}
	if out, err := build(t, "first", "--destination", one); err != nil {
		t.Fatalf("first build: %v\n%s", err, tail(out, 3000))
	}
	r1, _ := name.ParseReference(one)
	first, err := remote.Head(r1)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := build(t, "second", "--destination", one, "--destination", two); err == nil || !strings.Contains(out, "immutable") {
		t.Fatalf("without the flag: %v, want the registry's error\n%s", err, tail(out, 3000))
	}
	out, err := build(t, "second", "--destination", one, "--destination", two, "--push-ignore-immutable-tag-errors")
	if err != nil {
		t.Fatalf("with --push-ignore-immutable-tag-errors: %v\n%s", err, tail(out, 3000))
	}
	if !strings.Contains(out, "kept "+one) || !strings.Contains(out, "pushed "+two+"@") {
		t.Errorf("the log says neither which tag was kept nor which was pushed:\n%s", tail(out, 3000))
	}
	if d, err := remote.Head(r1); err != nil || d.Digest != first.Digest {
		t.Errorf("%s moved: %v %v, want %s", one, d, err, first.Digest)
	}
	r2, _ := name.ParseReference(two)
	if _, err := remote.Head(r2); err != nil {
		t.Errorf("%s not pushed: %v", two, err)
	}
}
