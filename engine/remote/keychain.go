package remote

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/google"
)

// Keychain finds credentials as Kaniko users expect: $DOCKER_CONFIG/config.json
// (auths, credHelpers, credsStore); a kubernetes.io/dockerconfigjson Secret
// mounted as is ($DOCKER_CONFIG/.dockerconfigjson); then Google's registries'
// own credentials for gcr.io and pkg.dev hosts.
func Keychain() authn.Keychain {
	return authn.NewMultiKeychain(authn.DefaultKeychain, secretKeychain{}, google.Keychain)
}

// secretKeychain reads .dockerconfigjson when there is no config.json.
type secretKeychain struct{}

func (secretKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	dir := config.Dir()
	if _, err := os.Stat(filepath.Join(dir, config.ConfigFileName)); err == nil {
		return authn.Anonymous, nil
	}
	f, err := os.Open(filepath.Join(dir, ".dockerconfigjson"))
	if err != nil {
		return authn.Anonymous, nil
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, err
	}
	want := target.RegistryStr()
	for k, ac := range cf.AuthConfigs {
		if host(k) != want && !(want == name.DefaultRegistry && host(k) == "index.docker.io") {
			continue
		}
		return authn.FromConfig(authn.AuthConfig{
			Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
			IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
		}), nil
	}
	return authn.Anonymous, nil
}

// host reduces an auths key ("https://index.docker.io/v1/") to its host.
func host(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	if i := strings.IndexByte(key, '/'); i >= 0 {
		key = key[:i]
	}
	return key
}
