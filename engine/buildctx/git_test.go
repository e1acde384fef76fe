package buildctx

import (
	"context"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// bareRepo makes a bare repository at dir with go-git: master has two
// commits, the first tagged v1.0; branch dev adds dev.txt to the first.
// It returns the two master commits.
func bareRepo(t *testing.T, dir string) (first, second plumbing.Hash) {
	t.Helper()
	work := t.TempDir()
	repo, err := git.PlainInit(work, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "test", Email: "test@example.com", When: time.Unix(1700000000, 0)}
	commit := func(files map[string]string, msg string) plumbing.Hash {
		t.Helper()
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := wt.Add(name); err != nil {
				t.Fatal(err)
			}
		}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: sig})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first = commit(map[string]string{"Dockerfile": "FROM scratch # v1\n"}, "v1")
	if _, err := repo.CreateTag("v1.0", first, nil); err != nil {
		t.Fatal(err)
	}
	second = commit(map[string]string{"Dockerfile": "FROM scratch # v2\n"}, "v2")
	if err := wt.Checkout(&git.CheckoutOptions{Hash: first, Branch: plumbing.NewBranchReferenceName("dev"), Create: true}); err != nil {
		t.Fatal(err)
	}
	commit(map[string]string{"dev.txt": "dev\n"}, "dev")
	// HEAD back on master, and the repository made bare, as a server's:
	// its .git directory alone.
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.Master)); err != nil {
		t.Fatal(err)
	}
	cfg, err := repo.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Core.IsBare = true
	if err := repo.Storer.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(work, ".git"), dir); err != nil {
		t.Fatal(err)
	}
	return first, second
}

// gitServer serves the repositories under root over smart HTTP on
// 127.0.0.1 with git's own http-backend; the test is skipped without git,
// except in CI, whose machine has it.
func gitServer(t *testing.T, root string) string {
	t.Helper()
	srv := httptest.NewServer(gitBackend(t, root))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// gitBackend is git's http-backend serving the repositories under root
// through CGI.
func gitBackend(t *testing.T, root string) http.Handler {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		cannotHere(t, "git is not installed: git:// contexts are not served")
	}
	out, err := exec.Command(gitBin, "--exec-path").Output()
	if err != nil {
		cannotHere(t, "git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		cannotHere(t, "no git-http-backend: %v", err)
	}
	return &cgi.Handler{
		Path: backend,
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "HOME=" + root, "GIT_CONFIG_NOSYSTEM=1"},
		// "Not a git repository" for the missing one: the client's error
		// is what the test checks.
		Stderr: io.Discard,
	}
}

func TestFetchGit(t *testing.T) {
	root := t.TempDir()
	first, second := bareRepo(t, filepath.Join(root, "repo.git"))
	host := gitServer(t, root)
	repo := "git://" + host + "/repo.git"

	for _, tc := range []struct {
		name    string
		src     string
		git     GitOptions
		method  string
		want    string // the Dockerfile's content
		devFile bool   // dev.txt is there
		head    plumbing.Hash
		err     string // in the error when set
	}{
		{name: "default branch", src: repo, want: "v2", head: second},
		{name: "branch", src: repo + "#dev", want: "v1", devFile: true},
		{name: "branch, single", src: repo + "#dev", git: GitOptions{SingleBranch: true}, want: "v1", devFile: true},
		{name: "full ref", src: repo + "#refs/heads/dev", want: "v1", devFile: true},
		{name: "tag", src: repo + "#v1.0", want: "v1", head: first},
		{name: "tag ref", src: repo + "#refs/tags/v1.0", want: "v1", head: first},
		{name: "branch and commit", src: repo + "#master#" + first.String(), want: "v1", head: first},
		{name: "empty ref, commit", src: repo + "##" + first.String(), want: "v1", head: first},
		{name: "--git branch", src: repo, git: GitOptions{Branch: "dev"}, want: "v1", devFile: true},
		{name: "the URL's ref wins over --git branch", src: repo + "#master", git: GitOptions{Branch: "dev"}, want: "v2", head: second},
		{name: "explicit http", src: repo, method: "http", want: "v2", head: second},

		{name: "no such ref", src: repo + "#nope", err: "cloning http://" + host + "/repo.git"},
		{name: "no such full ref", src: repo + "#refs/heads/nope", err: "cloning http://" + host + "/repo.git"},
		{name: "no such commit", src: repo + "#master#" + strings.Repeat("ab", 20), err: "checking out " + strings.Repeat("ab", 20)},
		{name: "no such repository", src: "git://" + host + "/missing.git", err: "cloning http://" + host + "/missing.git"},
		{name: "https to an http server", src: repo, method: "https", err: "cloning https://" + host + "/repo.git"},
		{name: "bad pull method", src: repo, method: "ftp", err: `git pull method "ftp": want https or http`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			method := tc.method
			if method == "" {
				method = "http"
			}
			dir, err := Fetch(context.Background(), tc.src, FetchOptions{TempDir: tmp, Git: tc.git, GitPullMethod: method})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Fetch(%s) = %s, %v; want an error with %q", tc.src, dir, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(dir) != tmp || !strings.HasPrefix(filepath.Base(dir), "context-git-") {
				t.Errorf("cloned to %s, want a context-git-* directory in %s", dir, tmp)
			}
			got, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			if want := "FROM scratch # " + tc.want + "\n"; string(got) != want {
				t.Errorf("Dockerfile = %q, want %q", got, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "dev.txt")); (err == nil) != tc.devFile {
				t.Errorf("dev.txt there: %v, want %v", err == nil, tc.devFile)
			}
			if tc.head.IsZero() {
				return
			}
			r, err := git.PlainOpen(dir)
			if err != nil {
				t.Fatal(err)
			}
			if h, err := r.Head(); err != nil || h.Hash() != tc.head {
				t.Errorf("HEAD = %v, %v; want %s", h, err, tc.head)
			}
		})
	}
}
