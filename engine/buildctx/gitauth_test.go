package buildctx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/pflag"
)

func TestGitAuthFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want GitAuth
	}{
		{name: "none", want: GitAuth{}},
		{name: "username and password", env: map[string]string{"GIT_USERNAME": "u", "GIT_PASSWORD": "p"}, want: GitAuth{Username: "u", Password: "p"}},
		{name: "password alone", env: map[string]string{"GIT_PASSWORD": "p"}, want: GitAuth{Password: "p"}},
		{name: "token", env: map[string]string{"GIT_TOKEN": "t"}, want: GitAuth{Username: "t"}},
		{name: "the token wins", env: map[string]string{"GIT_USERNAME": "u", "GIT_PASSWORD": "p", "GIT_TOKEN": "t"}, want: GitAuth{Username: "t"}},
		{name: "an empty token is unset", env: map[string]string{"GIT_USERNAME": "u", "GIT_PASSWORD": "p", "GIT_TOKEN": ""}, want: GitAuth{Username: "u", Password: "p"}},
	} {
		if got := GitAuthFromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%s: GitAuthFromEnv = %#v (%q, %q), want %q, %q", tc.name, got, got.Username, got.Password, tc.want.Username, tc.want.Password)
		}
	}
}

// TestGitAuthHidden prints and logs the credentials, and Options holding
// them, every way at hand: neither the username nor the password shows.
func TestGitAuthHidden(t *testing.T) {
	a := GitAuth{Username: "user-6b0f", Password: "pass-93ad"}
	o := Options{Source: "git://example.com/r.git", GitAuth: a}
	var out []string
	for _, v := range []any{a, &a, o, &o} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(j))
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("x", "auth", a, "opt", o, "ptr", &o)
	}
	out = append(out, logs.String())
	for _, s := range out {
		if strings.Contains(s, a.Username) || strings.Contains(s, a.Password) {
			t.Errorf("credentials shown: %s", s)
		}
	}
	if s := fmt.Sprint(GitAuth{}); s != "GitAuth{}" {
		t.Errorf("empty GitAuth prints %q", s)
	}
	if s := fmt.Sprint(a); s != "GitAuth{redacted}" {
		t.Errorf("GitAuth prints %q", s)
	}
}

func TestOriginAuth(t *testing.T) {
	a := newOriginAuth("https://git.example.com:8443/org/repo.git", GitAuth{Username: "u", Password: "p"})
	if s, want := a.String(), "http-basic-auth for https://git.example.com:8443"; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}
	for _, tc := range []struct {
		url  string
		sent bool
	}{
		{"https://git.example.com:8443/org/repo.git/info/refs", true},
		{"https://GIT.example.com:8443/org/sub.git/git-upload-pack", true},
		{"http://git.example.com:8443/org/repo.git/info/refs", false},
		{"https://git.example.com/org/repo.git/info/refs", false},
		{"https://other.example.com:8443/org/repo.git/info/refs", false},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.url, nil)
		a.SetAuth(r)
		if _, _, ok := r.BasicAuth(); ok != tc.sent {
			t.Errorf("%s: credentials sent %v, want %v", tc.url, ok, tc.sent)
		}
	}
	plain := newOriginAuth("http://git.example.com/org/repo.git", GitAuth{Username: "u", Password: "p"})
	for _, tc := range []struct {
		url  string
		sent bool
	}{
		{"http://git.example.com/org/repo.git/info/refs", true},
		{"https://git.example.com/org/repo.git/info/refs", true},
		{"http://git.example.com:8080/org/repo.git/info/refs", false},
		{"http://other.example.com/org/repo.git/info/refs", false},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.url, nil)
		plain.SetAuth(r)
		if _, _, ok := r.BasicAuth(); ok != tc.sent {
			t.Errorf("http context, %s: credentials sent %v, want %v", tc.url, ok, tc.sent)
		}
	}
	if newOriginAuth("https://example.com/r.git", GitAuth{}) != nil {
		t.Error("empty credentials make an auth method")
	}
}

func TestCutUserinfo(t *testing.T) {
	for _, tc := range []struct {
		in, rest string
		want     GitAuth
		ok       bool
	}{
		{in: "example.com/r.git", rest: "example.com/r.git"},
		{in: "example.com/a@b/r.git", rest: "example.com/a@b/r.git"},
		{in: "u:p@example.com/r.git", rest: "example.com/r.git", want: GitAuth{Username: "u", Password: "p"}, ok: true},
		{in: "tok@example.com:8080/r.git", rest: "example.com:8080/r.git", want: GitAuth{Username: "tok"}, ok: true},
		{in: "u%40x:p%3Aq%2F@example.com/r.git", rest: "example.com/r.git", want: GitAuth{Username: "u@x", Password: "p:q/"}, ok: true},
		{in: "u:p@w@example.com", rest: "example.com", want: GitAuth{Username: "u", Password: "p@w"}, ok: true},
	} {
		rest, got, ok := cutUserinfo(tc.in)
		if rest != tc.rest || got != tc.want || ok != tc.ok {
			t.Errorf("cutUserinfo(%q) = %q, %q:%q, %v; want %q, %q:%q, %v", tc.in, rest, got.Username, got.Password, ok, tc.rest, tc.want.Username, tc.want.Password, tc.ok)
		}
	}
}

// authGit puts HTTP basic auth in front of a git server: with user or
// token set it takes user:password, or token with an empty password
// (GIT_TOKEN's form), and answers 401 to anything else. It counts the
// requests, and those that came with credentials.
type authGit struct {
	user, password, token string
	next                  http.Handler
	requests, withAuth    atomic.Int64
}

func (s *authGit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.Header.Get("Authorization") != "" {
		s.withAuth.Add(1)
	}
	if s.user != "" || s.token != "" {
		u, p, ok := r.BasicAuth()
		if !ok || !(u == s.user && p == s.password || u == s.token && p == "") {
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			http.Error(w, "no valid credentials", http.StatusUnauthorized)
			return
		}
	}
	s.next.ServeHTTP(w, r)
}

// gitCLI runs git in dir, with no user or system configuration.
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE=2023-11-14T22:13:20Z", "GIT_COMMITTER_DATE=2023-11-14T22:13:20Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// cliRepo makes the bare repository bare with the git CLI: one commit on
// main with files, and a submodule commit at each path of links. It
// returns the commit.
func cliRepo(t *testing.T, bare string, files, links map[string]string) string {
	t.Helper()
	work := t.TempDir()
	gitCLI(t, work, "init", "-q", "--initial-branch=main", ".")
	writeFiles(t, work, files)
	add := []string{"add"}
	for name := range files {
		add = append(add, name)
	}
	gitCLI(t, work, add...)
	for path, commit := range links {
		gitCLI(t, work, "update-index", "--add", "--cacheinfo", "160000,"+commit+","+path)
	}
	gitCLI(t, work, "commit", "-q", "-m", "commit")
	gitCLI(t, work, "init", "-q", "--bare", "--initial-branch=main", bare)
	gitCLI(t, work, "push", "-q", bare, "main")
	return gitCLI(t, work, "rev-parse", "HEAD")
}

// TestLoadGitAuth clones a private repository from git's own server
// behind basic auth, with the credentials from the environment as the
// executor has them (Options.AddFlags): none, GIT_USERNAME and
// GIT_PASSWORD, GIT_TOKEN, wrong ones, and a URL's. A submodule on the
// same server gets them; one on another server does not. No secret shows
// in an error or in the clone.
func TestLoadGitAuth(t *testing.T) {
	const (
		user      = "alice"
		password  = "pw-3e1f9c-secret"
		token     = "tok-8d2a7b-secret"
		wrongPass = "wrong-pw-77c1"
		wrongTok  = "wrong-tok-41d0"
	)
	secrets := []string{password, token, wrongPass, wrongTok}
	root, otherRoot := t.TempDir(), t.TempDir()
	private := &authGit{user: user, password: password, token: token, next: gitBackend(t, root)}
	public := &authGit{next: gitBackend(t, otherRoot)}
	privateSrv, publicSrv := httptest.NewServer(private), httptest.NewServer(public)
	t.Cleanup(privateSrv.Close)
	t.Cleanup(publicSrv.Close)
	host := strings.TrimPrefix(privateSrv.URL, "http://")
	otherHost := strings.TrimPrefix(publicSrv.URL, "http://")

	sub := cliRepo(t, filepath.Join(root, "sub.git"), map[string]string{"sub.txt": "sub\n"}, nil)
	other := cliRepo(t, filepath.Join(otherRoot, "other.git"), map[string]string{"other.txt": "other\n"}, nil)
	const dockerfile = "FROM scratch\nCOPY . /\n"
	cliRepo(t, filepath.Join(root, "private.git"), map[string]string{
		"Dockerfile": dockerfile,
		"data.txt":   "private\n",
		".gitmodules": "[submodule \"sub\"]\n\tpath = sub\n\turl = ../sub.git\n" +
			"[submodule \"other\"]\n\tpath = other\n\turl = http://" + otherHost + "/other.git\n",
	}, map[string]string{"sub": sub, "other": other})

	repo := "git://" + host + "/private.git"
	noCreds := "cloning http://" + host + "/private.git: authentication failed, no credentials given (set GIT_USERNAME and GIT_PASSWORD, or GIT_TOKEN)"
	refused := "cloning http://" + host + "/private.git: authentication failed with the credentials given"
	for _, tc := range []struct {
		name       string
		env        map[string]string
		src        string
		git        string
		submodules bool   // sub/ and other/ are cloned
		err        string // in the error when set
	}{
		{name: "no credentials", src: repo, err: noCreds},
		{name: "no credentials, a branch", src: repo + "#main", err: noCreds},
		{name: "username and password", src: repo, env: map[string]string{"GIT_USERNAME": user, "GIT_PASSWORD": password}},
		{name: "token", src: repo, env: map[string]string{"GIT_TOKEN": token}},
		{name: "token, a branch", src: repo + "#main", env: map[string]string{"GIT_TOKEN": token}},
		{name: "the token wins", src: repo, env: map[string]string{"GIT_USERNAME": user, "GIT_PASSWORD": wrongPass, "GIT_TOKEN": token}},
		{name: "submodules, username and password", src: repo, git: "recurse-submodules=true", submodules: true,
			env: map[string]string{"GIT_USERNAME": user, "GIT_PASSWORD": password}},
		{name: "submodules, token", src: repo, git: "recurse-submodules=true", submodules: true, env: map[string]string{"GIT_TOKEN": token}},
		{name: "credentials in the URL", src: "git://" + user + ":" + password + "@" + host + "/private.git"},
		{name: "token in the URL, submodules", src: "git://" + token + "@" + host + "/private.git", git: "recurse-submodules=true", submodules: true},
		{name: "the environment wins over the URL", src: "git://" + user + ":" + wrongPass + "@" + host + "/private.git", env: map[string]string{"GIT_TOKEN": token}},

		{name: "wrong password", src: repo, env: map[string]string{"GIT_USERNAME": user, "GIT_PASSWORD": wrongPass}, err: refused},
		{name: "wrong password, a branch", src: repo + "#main", env: map[string]string{"GIT_USERNAME": user, "GIT_PASSWORD": wrongPass}, err: refused},
		{name: "password, no username", src: repo, env: map[string]string{"GIT_PASSWORD": password}, err: refused},
		{name: "wrong token", src: repo, env: map[string]string{"GIT_TOKEN": wrongTok}, err: refused},
		{name: "wrong token, username and password set", src: repo, env: map[string]string{"GIT_USERNAME": user, "GIT_PASSWORD": password, "GIT_TOKEN": wrongTok}, err: refused},
		{name: "wrong password in the URL", src: "git://" + user + ":" + wrongPass + "@" + host + "/private.git", err: refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"GIT_USERNAME", "GIT_PASSWORD", "GIT_TOKEN"} {
				t.Setenv(k, tc.env[k])
			}
			var o Options
			o.AddFlags(pflag.NewFlagSet("test", pflag.ContinueOnError))
			o.Source, o.Git, o.GitPullMethod = tc.src, tc.git, "http"
			c, _, text, err := Load(context.Background(), o, t.TempDir())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load(%s) = %v; want an error with %q", tc.src, err, tc.err)
				}
				t.Logf("error: %v", err)
				for _, s := range append(secrets, user+":") {
					if strings.Contains(err.Error(), s) {
						t.Errorf("the error shows %q: %v", s, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(text) != dockerfile {
				t.Errorf("Dockerfile = %q, want %q", text, dockerfile)
			}
			want := map[string]string{"data.txt": "private\n"}
			if tc.submodules {
				want["sub/sub.txt"], want["other/other.txt"] = "sub\n", "other\n"
			}
			for name, content := range want {
				if got, err := os.ReadFile(filepath.Join(c.Dir, name)); err != nil || string(got) != content {
					t.Errorf("%s = %q, %v; want %q", name, got, err, content)
				}
			}
			if _, err := os.Stat(filepath.Join(c.Dir, "sub", "sub.txt")); !tc.submodules && err == nil {
				t.Error("sub/sub.txt cloned without recurse-submodules")
			}
			// The clone, .git included, is what COPY . copies.
			err = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for _, s := range secrets {
					if bytes.Contains(data, []byte(s)) {
						t.Errorf("%s holds %q", p, s)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := public.withAuth.Load(); n != 0 {
		t.Errorf("the other host got credentials in %d requests", n)
	}
	if public.requests.Load() == 0 {
		t.Error("the other host's submodule was never fetched")
	}
	if private.withAuth.Load() == 0 {
		t.Error("the private server never got credentials")
	}
}
