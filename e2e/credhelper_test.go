//go:build e2e

package e2e

// The executor image with a credential helper of the user's own, as
// Kaniko's users set one up: a docker-credential-NAME binary mounted into
// /kaniko (on the image's PATH) and named in config.json.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

// helperName is the credential helper TestImageCredentialHelper mounts:
// engine/remote/testdata/docker-credential-e2etest, which answers from
// <itself>.json and logs each request to <itself>.log.
const helperName = "docker-credential-e2etest"

// TestImageCredentialHelper pulls the base from and pushes to a registry
// with htpasswd basic auth, whose credentials only a real credential
// helper has: a static binary mounted at /kaniko/docker-credential-e2etest,
// named in the mounted config.json by credHelpers for that registry, and
// by credsStore for every registry.
func TestImageCredentialHelper(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	const user, pass = "helper-user", "e2e-helper-pass"
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	reg, base := startRegistry(t, registry.Options{User: user, Password: pass}, auth)
	if _, err := pull(ctx, base); err == nil {
		t.Fatal("the registry serves anonymous pulls: the test would prove nothing")
	}

	bin := t.TempDir()
	helper := filepath.Join(bin, helperName)
	build := exec.CommandContext(ctx, "go", "build", "-o", helper, "./engine/remote/testdata/"+helperName)
	build.Dir = h.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", helperName, err, out)
	}
	creds, err := json.Marshal(map[string]map[string]string{reg.Host: {"Username": user, "Secret": pass}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(helper+".json", creds, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, config string }{
		{"credHelpers", `{"credHelpers":{"` + reg.Host + `":"e2etest"}}`},
		{"credsStore", `{"credsStore":"e2etest"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgDir, out := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			ctxDir, files := simpleContext(t, base, "cred-helper-"+strings.ToLower(tc.name))
			ref := reg.Host + "/app/cred-helper-" + strings.ToLower(tc.name) + ":1"
			c := &container{
				args: []string{"--context", "/workspace", "--destination", ref, "--digest-file", "/kaniko/out/digest"},
				volumes: []string{ctxDir + ":/workspace", out + ":/kaniko/out",
					cfgDir + ":/kaniko/.docker:ro",
					helper + ":/kaniko/" + helperName + ":ro",
					helper + ".json:/kaniko/" + helperName + ".json:ro"},
				keep: true,
			}
			log, err := h.runContainer(ctx, c)
			t.Cleanup(func() { removeContainer(c.name) })
			if err != nil {
				t.Fatalf("executor: %v\n%s", err, tail(log, 6000))
			}
			asked, err := copyOut(ctx, c.name, "/kaniko/"+helperName+".log")
			if err != nil {
				t.Fatalf("the helper left no log, so it never ran: %v\n%s", err, tail(log, 3000))
			}
			if !strings.Contains(string(asked), "get "+reg.Host) {
				t.Errorf("the helper was never asked about %s; it was asked:\n%s", reg.Host, asked)
			}
			checkImage(t, ref, readDigestFile(t, filepath.Join(out, "digest")), files, auth)
		})
	}
}

// TestImageKanikoCloudHelperConfigs builds with each config.json of
// Kaniko's documented ECR, GCR and ACR set-ups mounted: the helpers they
// name are built into the executor (Kaniko's image shipped them as
// binaries), so none is looked for on PATH, and the build, whose
// registries are none of those clouds', pulls and pushes anonymously.
func TestImageKanikoCloudHelperConfigs(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	base := h.bases["busybox"]
	for _, tc := range []struct{ name, config string }{
		{"ecr-credsStore", `{"credsStore":"ecr-login"}`},
		{"ecr-credHelpers", `{"credHelpers":{"123456789012.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}`},
		{"gcr-credHelpers", `{"credHelpers":{"gcr.io":"gcr","us-docker.pkg.dev":"gcloud"}}`},
		{"acr-credHelpers", `{"credHelpers":{"myregistry.azurecr.io":"acr-env"}}`},
		{"acr-credsStore", `{"credsStore":"acr"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			ctxDir, files := simpleContext(t, base, "kaniko-"+tc.name)
			ref := h.reg.Host + "/app/kaniko-" + strings.ToLower(tc.name) + ":1"
			out := t.TempDir()
			log, err := h.runContainer(ctx, &container{
				args:    []string{"--context", "/workspace", "--destination", ref, "--digest-file", "/kaniko/out/digest"},
				volumes: []string{ctxDir + ":/workspace", out + ":/kaniko/out", cfgDir + ":/kaniko/.docker:ro"},
			})
			if err != nil {
				t.Fatalf("executor: %v\n%s", err, tail(log, 6000))
			}
			if strings.Contains(log, "docker-credential-") {
				t.Errorf("a credential helper was looked for:\n%s", tail(log, 3000))
			}
			checkImage(t, ref, readDigestFile(t, filepath.Join(out, "digest")), files)
		})
	}
}
