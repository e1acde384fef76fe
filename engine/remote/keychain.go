package remote

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	"github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/google"
)

// Keychain finds credentials as Kaniko users expect: config.json in
// dockerConfig, or when that is "" in $DOCKER_CONFIG, else ~/.docker
// (auths, credHelpers, credsStore); a kubernetes.io/dockerconfigjson
// Secret mounted as is (.dockerconfigjson in the same directory); then the
// clouds' own credentials, each only for its registries: Google (gcr.io,
// pkg.dev), Amazon ECR (from the AWS environment or role) and Azure ACR
// (from the AZURE_* service principal environment).
func Keychain(dockerConfig string) authn.Keychain {
	var docker authn.Keychain = authn.DefaultKeychain
	if dockerConfig != "" {
		docker = configKeychain{dir: dockerConfig}
	}
	return authn.NewMultiKeychain(docker, secretKeychain{dir: dockerConfig}, google.Keychain,
		hostKeychain{match: isECR, kc: authn.NewKeychainFromHelper(ecr.NewECRHelper(ecr.WithLogger(io.Discard)))},
		hostKeychain{match: isACR, kc: authn.NewKeychainFromHelper(credhelper.NewACRCredentialsHelper())})
}

// configMu serialises config.json reads, as authn.DefaultKeychain does.
var configMu sync.Mutex

// configKeychain reads config.json in dir as authn.DefaultKeychain reads
// $DOCKER_CONFIG's: auths, then credHelpers and credsStore.
type configKeychain struct{ dir string }

func (k configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	configMu.Lock()
	defer configMu.Unlock()
	p := filepath.Join(k.dir, config.ConfigFileName)
	if _, err := os.Stat(p); err != nil {
		return authn.Anonymous, nil
	}
	cf, err := config.Load(k.dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		ac, err := cf.GetAuthConfig(key)
		if err != nil {
			return nil, fmt.Errorf("reading credentials for %s: %w", key, err)
		}
		if ac.Username != "" || ac.Password != "" || ac.Auth != "" || ac.IdentityToken != "" || ac.RegistryToken != "" {
			return authn.FromConfig(authn.AuthConfig{
				Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
				IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}

// hostKeychain asks its keychain only about the registries it matches, so
// that no cloud is asked about a registry that is not its own.
type hostKeychain struct {
	match func(host string) bool
	kc    authn.Keychain
}

func (h hostKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if !h.match(target.RegistryStr()) {
		return authn.Anonymous, nil
	}
	return h.kc.Resolve(target)
}

func isECR(host string) bool {
	return strings.Contains(host, ".dkr.ecr.") && (strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn"))
}

func isACR(host string) bool {
	return strings.HasSuffix(host, ".azurecr.io") || strings.HasSuffix(host, ".azurecr.cn") || strings.HasSuffix(host, ".azurecr.us")
}

// secretKeychain reads .dockerconfigjson in dir ("" for $DOCKER_CONFIG,
// else ~/.docker) when there is no config.json there.
type secretKeychain struct{ dir string }

func (k secretKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	dir := k.dir
	if dir == "" {
		dir = os.Getenv("DOCKER_CONFIG") // config.Dir() keeps the first it saw
	}
	if dir == "" {
		dir = config.Dir()
	}
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
	// The repository's own entry first, then its registry's, as
	// configKeychain: never whichever the map gives first.
	for _, want := range []string{target.String(), target.RegistryStr()} {
		for k, ac := range cf.AuthConfigs {
			if key := authKey(k); key != want && !(want == name.DefaultRegistry && key == "index.docker.io") {
				continue
			}
			return authn.FromConfig(authn.AuthConfig{
				Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
				IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}

// authKey reduces an auths key to a registry or repository name:
// "https://index.docker.io/v1/" to "index.docker.io", "host/team/app"
// stays.
func authKey(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	for _, api := range []string{"/v1/", "/v2/", "/v1", "/v2", "/"} {
		if k, ok := strings.CutSuffix(key, api); ok {
			return k
		}
	}
	return key
}
