package remote

import (
	"os"
	"path/filepath"
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
	a, err := Keychain().Resolve(reg)
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
	if a, _ := Keychain().Resolve(other); a != authn.Anonymous {
		t.Errorf("a registry the secret does not name got credentials: %v", a)
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
