package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestKeychainReadsMountedDockerconfigjson(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	// user:pass
	secret := `{"auths":{"https://127.0.0.1:5000/v1/":{"auth":"dXNlcjpwYXNz"}}}`
	if err := os.WriteFile(filepath.Join(dir, ".dockerconfigjson"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, _ := name.NewRegistry("127.0.0.1:5000")
	a, err := Keychain("").Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Username != "user" || cfg.Password != "pass" {
		t.Errorf("got %q/%q, want user/pass from .dockerconfigjson", cfg.Username, cfg.Password)
	}
	other, _ := name.NewRegistry("127.0.0.1:6000")
	if a, _ := Keychain("").Resolve(other); a != authn.Anonymous {
		t.Errorf("a registry the secret does not name got credentials: %v", a)
	}
}

// A directory given as DockerConfig is read instead of $DOCKER_CONFIG,
// whose credentials it does not see; a repository's own entry wins over
// its registry's, as in authn.DefaultKeychain.
func TestKeychainReadsGivenDockerConfig(t *testing.T) {
	env := t.TempDir()
	t.Setenv("DOCKER_CONFIG", env)
	// other:creds
	if err := os.WriteFile(filepath.Join(env, "config.json"), []byte(`{"auths":{"127.0.0.1:6000":{"auth":"b3RoZXI6Y3JlZHM="}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// user:pass for the registry, repo:pass for one repository.
	cfg := `{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYXNz"},"127.0.0.1:5000/team/app":{"auth":"cmVwbzpwYXNz"},"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := Keychain(dir)
	for res, want := range map[string]string{
		"127.0.0.1:5000":                  "user",
		"127.0.0.1:5000/team/app":         "repo",
		"127.0.0.1:5000/other":            "user",
		"index.docker.io/library/busybox": "user",
		"127.0.0.1:6000":                  "",
	} {
		var r authn.Resource
		if repo, err := name.NewRepository(res); err == nil && strings.Contains(res, "/") {
			r = repo
		} else {
			r, _ = name.NewRegistry(res)
		}
		a, err := kc.Resolve(r)
		if err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		got, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != want {
			t.Errorf("%s: user %q, want %q", res, got.Username, want)
		}
	}
	// Without config.json, a mounted Secret in the same directory is read.
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, ".dockerconfigjson"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, _ := name.NewRegistry("127.0.0.1:5000")
	a, err := Keychain(secretDir).Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Authorization(); got.Username != "user" {
		t.Errorf(".dockerconfigjson in the given directory: user %q, want user", got.Username)
	}
}

func TestCloudKeychainsOnlyForTheirRegistries(t *testing.T) {
	for host, want := range map[string][2]bool{
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com": {true, false},
		"myreg.azurecr.io": {false, true},
		"127.0.0.1:5000":   {false, false},
		"ecr.example.com":  {false, false},
	} {
		if got := [2]bool{isECR(host), isACR(host)}; got != want {
			t.Errorf("%s: ecr, acr = %v, want %v", host, got, want)
		}
	}
}
