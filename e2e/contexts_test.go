//go:build e2e

package e2e

// Build contexts the executor image fetches itself: a tar.gz on its
// standard input, and a git repository served over HTTP from 127.0.0.1.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// contextTar makes a tarball of files (slash path -> content), with the
// directories they need, in a fixed order; gzipped when gz is set.
func contextTar(t *testing.T, files map[string]string, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	zw := gzip.NewWriter(&buf)
	if gz {
		w = zw
	}
	tw := tar.NewWriter(w)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	mtime := time.Unix(1577836800, 0)
	for _, n := range names {
		parts := strings.Split(n, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n])), ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if gz {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestImageContextTarStdin pipes a tar.gz context, and a plain tar, into
// `docker run -i ... --context tar://stdin`.
func TestImageContextTarStdin(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	files := map[string]string{
		"Dockerfile": "FROM " + h.bases["busybox"] + " AS build\n" +
			"COPY src/ /src/\n" +
			"RUN cat /src/a.txt /src/deep/b.txt > /joined.txt\n" +
			"FROM " + h.bases["busybox"] + "\n" +
			"COPY --from=build /joined.txt /\n" +
			"COPY src/deep/b.txt /b.txt\n",
		"src/a.txt":      "a from stdin\n",
		"src/deep/b.txt": "b from stdin\n",
	}
	for _, gz := range []bool{true, false} {
		name := map[bool]string{true: "tar.gz", false: "tar"}[gz]
		t.Run(name, func(t *testing.T) {
			ref := h.reg.Host + "/image-contexts/stdin-" + strings.ReplaceAll(name, ".", "-") + ":latest"
			c := &container{
				args:  []string{"--context", "tar://stdin", "--destination", ref},
				stdin: bytes.NewReader(contextTar(t, files, gz)),
			}
			out, err := h.runContainer(ctx, c)
			if err != nil {
				t.Fatalf("executor: %v\n%s", err, tail(out, 6000))
			}
			checkFiles(t, ref, map[string]string{"/joined.txt": "a from stdin\nb from stdin\n", "/b.txt": "b from stdin\n"})
		})
	}
}

// gitServer serves the bare repositories under root with git's smart
// HTTP protocol (git http-backend run through net/http/cgi).
type gitServer struct {
	host     string // 127.0.0.1:port
	requests atomic.Int64
}

func startGitServer(t *testing.T, root string) *gitServer {
	t.Helper()
	return startPrivateGitServer(t, root, nil)
}

// startPrivateGitServer is startGitServer asking for HTTP basic auth: a
// request whose credentials allow refuses is answered 401 (nil allows
// every request, without credentials too).
func startPrivateGitServer(t *testing.T, root string, allow func(user, password string) bool) *gitServer {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path (git comes with e2e/setup.sh): %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gitServer{host: l.Addr().String()}
	cgiHandler := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.requests.Add(1)
			if allow != nil {
				if u, p, ok := r.BasicAuth(); !ok || !allow(u, p) {
					w.Header().Set("WWW-Authenticate", `Basic realm="e2e"`)
					http.Error(w, "no valid credentials", http.StatusUnauthorized)
					return
				}
			}
			cgiHandler.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return g
}

// gitRepo is a repository being written: a work tree pushed to a bare
// repository.
type gitRepo struct {
	t    *testing.T
	work string
	env  []string
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.work
	cmd.Env = g.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files into the work tree and commits them; it returns
// the commit's hash.
func (g *gitRepo) commit(msg string, files map[string]string) string {
	g.t.Helper()
	writeTree(g.t, g.work, files)
	g.git("add", "-A")
	g.git("commit", "-q", "-m", msg)
	return g.git("rev-parse", "HEAD")
}

// newGitRepo makes a work tree in root/work, with fixed author and dates,
// and an empty bare repository root/srv/name to push it to.
func newGitRepo(t *testing.T, root, name string) (g *gitRepo, bare string) {
	t.Helper()
	g = &gitRepo{t: t, work: filepath.Join(root, "work"), env: append(os.Environ(),
		"HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.invalid",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.invalid",
		"GIT_AUTHOR_DATE=2020-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2020-01-01T00:00:00Z")}
	bare = filepath.Join(root, "srv", name)
	if err := os.MkdirAll(g.work, 0o755); err != nil {
		t.Fatal(err)
	}
	g.git("init", "-q", "--bare", "--initial-branch=main", bare)
	g.git("init", "-q", "--initial-branch=main", ".")
	return g, bare
}

// TestImageContextGit builds from a git context served over plain HTTP on
// 127.0.0.1 (GIT_PULL_METHOD=http): a full ref, a branch name, a ref
// pinned to an older commit, and a sub-directory with --context-sub-path.
func TestImageContextGit(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	root := t.TempDir()
	g, bare := newGitRepo(t, root, "repo.git")

	busybox := h.bases["busybox"]
	first := g.commit("first", map[string]string{
		"Dockerfile": "FROM " + busybox + " AS build\n" +
			"COPY version.txt /version.txt\n" +
			"RUN cat /version.txt > /built-from.txt\n" +
			"FROM " + busybox + "\n" +
			"COPY --from=build /built-from.txt /\n" +
			"COPY version.txt /\n",
		"version.txt":    "main-1\n",
		"app/Dockerfile": "FROM " + busybox + "\nCOPY app.txt /app.txt\nRUN cp /app.txt /app-copy.txt\n",
		"app/app.txt":    "app-main-1\n",
	})
	g.commit("second", map[string]string{"version.txt": "main-2\n", "app/app.txt": "app-main-2\n"})
	g.git("checkout", "-q", "-b", "feature")
	g.commit("feature", map[string]string{"version.txt": "feature\n", "app/app.txt": "app-feature\n"})
	g.git("push", "-q", bare, "main", "feature")

	srv := startGitServer(t, filepath.Join(root, "srv"))
	url := "git://" + srv.host + "/repo.git"
	for _, tc := range []struct {
		name string
		args []string
		want map[string]string
	}{
		{"full-ref", []string{"--context", url + "#refs/heads/main"},
			map[string]string{"/version.txt": "main-2\n", "/built-from.txt": "main-2\n"}},
		{"branch", []string{"--context", url + "#feature"},
			map[string]string{"/version.txt": "feature\n", "/built-from.txt": "feature\n"}},
		{"pinned-commit", []string{"--context", url + "#refs/heads/main#" + first},
			map[string]string{"/version.txt": "main-1\n", "/built-from.txt": "main-1\n"}},
		{"sub-path", []string{"--context", url + "#feature", "--context-sub-path", "app"},
			map[string]string{"/app.txt": "app-feature\n", "/app-copy.txt": "app-feature\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.requests.Load()
			ref := fmt.Sprintf("%s/image-contexts/git-%s:latest", h.reg.Host, tc.name)
			c := &container{
				args: append(tc.args, "--destination", ref),
				env:  []string{"GIT_PULL_METHOD=http"},
			}
			out, err := h.runContainer(ctx, c)
			if err != nil {
				t.Fatalf("executor: %v\n%s", err, tail(out, 6000))
			}
			if srv.requests.Load() == before {
				t.Errorf("the git server got no request: where did the context come from?\n%s", tail(out, 3000))
			}
			checkFiles(t, ref, tc.want)
		})
	}
}
