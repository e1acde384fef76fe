//go:build e2e

package e2e

// A private git context: the executor image clones it with the
// credentials of its environment, as Kaniko's (GIT_USERNAME and
// GIT_PASSWORD, or GIT_TOKEN), and they end up nowhere: not in its
// output, not in the image.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestImageContextGitAuth builds from a repository served over HTTP with
// basic auth, with each form of credentials given as the container's
// environment, and with none or wrong ones. The Dockerfile copies the
// whole clone, .git included, and the environment its RUN sees into the
// image; the pushed image is then scanned, every layer, its config and
// manifest, for the secrets.
func TestImageContextGitAuth(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	const (
		user      = "e2e-user"
		password  = "e2e-pw-5f1c0a93"
		token     = "e2e-tok-c7d24e18"
		wrongPass = "e2e-wrong-pw-0b6e"
	)
	secrets := []string{password, token, wrongPass}
	root := t.TempDir()
	g, bare := newGitRepo(t, root, "private.git")
	g.commit("private", map[string]string{
		"Dockerfile": "FROM " + h.bases["busybox"] + "\n" +
			"COPY . /ctx/\n" +
			"RUN env > /run-env.txt && cp /ctx/private.txt /built.txt\n",
		"private.txt": "private\n",
	})
	g.git("push", "-q", bare, "main")

	srv := startPrivateGitServer(t, filepath.Join(root, "srv"), func(u, p string) bool {
		return u == user && p == password || u == token && p == ""
	})
	url := "git://" + srv.host + "/private.git"
	for _, tc := range []struct {
		name string
		env  []string
		err  string // in the executor's output when it is to fail
	}{
		{name: "password", env: []string{"GIT_USERNAME=" + user, "GIT_PASSWORD=" + password}},
		{name: "token", env: []string{"GIT_TOKEN=" + token}},
		{name: "none", err: "cloning http://" + srv.host + "/private.git: authentication failed, no credentials given"},
		{name: "wrong-password", env: []string{"GIT_USERNAME=" + user, "GIT_PASSWORD=" + wrongPass},
			err: "cloning http://" + srv.host + "/private.git: authentication failed with the credentials given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.requests.Load()
			ref := fmt.Sprintf("%s/image-contexts/git-auth-%s:latest", h.reg.Host, tc.name)
			c := &container{
				args: []string{"--context", url + "#main", "--destination", ref},
				env:  append([]string{"GIT_PULL_METHOD=http"}, tc.env...),
			}
			out, err := h.runContainer(ctx, c)
			if srv.requests.Load() == before {
				t.Errorf("the git server got no request\n%s", tail(out, 3000))
			}
			// The "$ docker create --env GIT_PASSWORD=..." lines are the
			// test's own; the rest is the executor's.
			exe := executorOutput(out)
			for _, s := range secrets {
				if strings.Contains(exe, s) {
					t.Errorf("the executor's output shows %q:\n%s", s, tail(exe, 6000))
				}
			}
			if tc.err != "" {
				if err == nil || exitCode(err) != 1 || !strings.Contains(exe, tc.err) {
					t.Fatalf("executor: %v, want exit code 1 and %q in its output\n%s", err, tc.err, tail(out, 6000))
				}
				return
			}
			if err != nil {
				t.Fatalf("executor: %v\n%s", err, tail(out, 6000))
			}
			b := checkFiles(t, ref, map[string]string{"/built.txt": "private\n", "/ctx/private.txt": "private\n"})
			for _, where := range secretsInImage(t, b, secrets) {
				t.Error(where)
			}
		})
	}
}

// containerID is the line `docker create` prints.
var containerID = regexp.MustCompile(`^[0-9a-f]{64}\n?$`)

// executorOutput is runContainer's output without the docker commands it
// ran, whose --env arguments carry the test's credentials, and without
// the container's ID.
func executorOutput(out string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(line, "$ docker ") && !containerID.MatchString(line) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// secretsInImage says where in the image each of secrets is: its
// manifest, its config, or a layer's uncompressed tar.
func secretsInImage(t *testing.T, b *built, secrets []string) []string {
	t.Helper()
	blobs := map[string][]byte{"config": b.raw}
	m, err := b.img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	blobs["manifest"] = m
	layers, err := b.img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("reading layer %d: %v", i, err)
		}
		blobs[fmt.Sprintf("layer %d", i)] = data
	}
	var found []string
	for where, data := range blobs {
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				found = append(found, fmt.Sprintf("the image's %s holds %q", where, s))
			}
		}
	}
	return found
}
