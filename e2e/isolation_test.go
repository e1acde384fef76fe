//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

// TestImageRunCannotReadCredentials builds, with the executor image, a
// Dockerfile whose RUN (testdata/hunt.sh) mounts one of two secrets and hunts for every
// credential the build was given: the password of the private registry
// the base comes from and the image goes to (in DOCKER_CONFIG, a writable
// directory, as the catalog Task arranges), the other secret, an env=
// secret. With --consume-credentials it finds only what it mounted, and
// the build still pulls and pushes; the consumed files are gone. Without
// the flag the user's files stay.
func TestImageRunCannotReadCredentials(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	nonce := make([]byte, 6)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	n := hex.EncodeToString(nonce)
	user, pass := "isolation", "KBXpass-"+n
	one, two, envSecret := "KBXone-"+n, "KBXtwo-"+n, "KBXenv-"+n
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	reg, base := startRegistry(t, registry.Options{User: user, Password: pass}, auth)

	for _, consume := range []bool{true, false} {
		name := map[bool]string{true: "consume-credentials", false: "kept"}[consume]
		t.Run(name, func(t *testing.T) {
			creds := dockerConfigDir(t, reg.Host, user, pass)
			writeTree(t, creds, map[string]string{"one.txt": one, "two.txt": two})
			dir := t.TempDir()
			script, err := os.ReadFile(filepath.Join(h.root, "e2e", "testdata", "hunt.sh"))
			if err != nil {
				t.Fatal(err)
			}
			writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + base +
				"\nARG PATTERN\nARG CONTROL\nRUN --mount=type=secret,id=one <<'HUNT'\n" + string(script) + "HUNT\n"})
			ref := reg.Host + "/app/isolation-" + name + ":1"
			args := []string{"--context", "/workspace", "--destination", ref,
				"--secret", "id=one,src=/creds/one.txt", "--secret", "id=two,src=/creds/two.txt",
				"--secret", "id=envsecret,env=ENV_SECRET",
				"--build-arg", "PATTERN=^KBX", "--build-arg", "CONTROL=KBXctl-control"}
			if consume {
				args = append(args, "--consume-credentials")
			}
			log, err := h.runContainer(ctx, &container{
				args:    args,
				env:     []string{"DOCKER_CONFIG=/creds", "ENV_SECRET=" + envSecret},
				volumes: []string{dir + ":/workspace", creds + ":/creds"},
			})
			if err != nil {
				t.Fatalf("executor: %v\n%s", err, tail(log, 6000))
			}
			for _, f := range []string{"config.json", "one.txt", "two.txt"} {
				_, err := os.Stat(filepath.Join(creds, f))
				if consume && !os.IsNotExist(err) {
					t.Errorf("--consume-credentials left %s (%v)", f, err)
				}
				if !consume && err != nil {
					t.Errorf("without --consume-credentials %s is gone: %v", f, err)
				}
			}
			if !consume {
				return
			}
			b, err := load(ctx, ref, auth)
			if err != nil {
				t.Fatal(err)
			}
			mounted, hunt := b.fs["/mounted.txt"], b.fs["/hunt.txt"]
			if mounted == nil || string(mounted.Content) != one {
				t.Fatalf("the RUN did not read its own secret: %v", mounted)
			}
			if hunt == nil {
				t.Fatal("no /hunt.txt in the image")
			}
			found := string(hunt.Content)
			controls := []string{"environ: KBXctl-control", "mem: KBXctl-control"}
			if yama, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(yama)) != "0" {
				// Yama lets no process read another's memory but its
				// descendants': the hunt cannot read its control's.
				controls = controls[:1]
			}
			for _, control := range controls {
				if !strings.Contains(found, control) {
					t.Errorf("the hunt missed its control %q, so it proves nothing:\n%s", control, found)
				}
			}
			for _, secret := range []string{pass, two, envSecret} {
				if strings.Contains(found, secret) {
					t.Errorf("the RUN found %q:\n%s", secret, found)
				}
			}
			if leaks := secretsInImage(t, b, []string{pass, two, envSecret}); len(leaks) > 0 {
				t.Errorf("in the image: %s", strings.Join(leaks, "; "))
			}
			if o := executorOutput(log); strings.Contains(o, pass) || strings.Contains(o, two) || strings.Contains(o, envSecret) {
				t.Errorf("a credential is in the output:\n%s", tail(o, 3000))
			}
		})
	}
}
