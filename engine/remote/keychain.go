package remote

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	"github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/google"
)

// Keychain finds credentials as Kaniko users expect: config.json in
// dockerConfig, or when that is "" in $DOCKER_CONFIG, else ~/.docker, else
// podman's auth.json (auths, credHelpers, credsStore: see configKeychain);
// a kubernetes.io/dockerconfigjson Secret mounted as is (.dockerconfigjson
// in the same directory); then the clouds' own credentials, each only for
// its registries: Google (gcr.io, pkg.dev), Amazon ECR (from the AWS
// environment or role) and Azure ACR (from the AZURE_* service principal
// environment).
func Keychain(dockerConfig string) authn.Keychain {
	return keychain(configKeychain{dir: dockerConfig}, secretKeychain{dir: dockerConfig})
}

func keychain(c configKeychain, s secretKeychain) authn.Keychain {
	return authn.NewMultiKeychain(c, s, google.Keychain,
		hostKeychain{match: isECR, kc: builtinHelper("ecr-login")},
		hostKeychain{match: isACR, kc: builtinHelper("acr-env")})
}

// LoadKeychain is Keychain, but with config.json (or .dockerconfigjson)
// read now, once: later lookups answer from that copy (credential
// helpers it names still run), so the files may go. files lists those
// read in dockerConfig's directory (podman's auth.json is not one).
func LoadKeychain(dockerConfig string) (_ authn.Keychain, files []string, _ error) {
	c := configKeychain{dir: dockerConfig, loaded: true}
	var p string
	var err error
	if c.cf, p, err = c.load(); err != nil {
		return nil, nil, err
	}
	dir := dockerConfigDir(dockerConfig)
	if p != "" && filepath.Dir(p) == dir {
		files = append(files, p)
	}
	s := secretKeychain{dir: dockerConfig, loaded: true}
	if s.cf, p, err = s.load(); err != nil {
		return nil, nil, err
	}
	if p != "" {
		files = append(files, p)
	}
	return keychain(c, s), files, nil
}

// builtinHelper is the login built into the executor that stands in for
// the credential helper docker-credential-<helper>, which Kaniko's image
// shipped in /kaniko and ours does not: the ECR and ACR helpers' own code,
// and go-containerregistry's Google keychain for docker-credential-gcr and
// gcloud's docker-credential-gcloud. It is nil for any other helper, which
// runs from PATH as docker runs it.
//
// "acr" is what Kaniko's README tells ACR users to put in credsStore
// (Kaniko then looked for a docker-credential-acr it did not ship): the
// built-in ACR login, unless such a helper is on PATH.
func builtinHelper(helper string) authn.Keychain {
	switch helper {
	case "ecr-login":
		return authn.NewKeychainFromHelper(ecr.NewECRHelper(ecr.WithLogger(io.Discard)))
	case "acr-env":
		return authn.NewKeychainFromHelper(credhelper.NewACRCredentialsHelper())
	case "acr":
		if _, err := exec.LookPath("docker-credential-acr"); err != nil {
			return builtinHelper("acr-env")
		}
	case "gcr", "gcloud":
		return google.Keychain
	}
	return nil
}

// configMu serialises config.json reads and credential helper runs, as
// authn.DefaultKeychain does.
var configMu sync.Mutex

// configKeychain reads config.json in dir; with dir "", in $DOCKER_CONFIG
// or ~/.docker, and without one there podman's auth.json
// ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
// ~/.config/containers/auth.json), as authn.DefaultKeychain does.
//
// The repository's own entry is looked up first, then its registry's. For
// each, as docker does, the helper credHelpers names for it, else
// credsStore: a helper built into the executor (builtinHelper) is asked
// in-process, any other runs as docker-credential-<name> from PATH. When
// there is none, or it has no credentials, auths are read.
type configKeychain struct {
	dir string
	// cf, when loaded is set, is config.json as read once (nil: none).
	cf     *configfile.ConfigFile
	loaded bool
}

func (k configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	configMu.Lock()
	defer configMu.Unlock()
	cf, err := k.cf, error(nil)
	if !k.loaded {
		cf, _, err = k.load()
	}
	if err != nil || cf == nil {
		return authn.Anonymous, err
	}
	// auths alone: where a helper has no credentials.
	plain := *cf
	plain.CredentialsStore, plain.CredentialHelpers = "", nil
	asked := map[string]bool{} // built-in helpers already asked about target
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		helper := cf.CredentialsStore
		if h, ok := cf.CredentialHelpers[key]; ok {
			helper = h
		}
		var ac types.AuthConfig
		if b := builtinHelper(helper); b != nil {
			if !asked[helper] {
				asked[helper] = true
				a, err := b.Resolve(target)
				if err != nil {
					return nil, fmt.Errorf("resolving credentials for %s with the built-in %s login: %w", key, helper, err)
				}
				if a != authn.Anonymous {
					return a, nil
				}
			}
		} else if helper != "" {
			if ac, err = cf.GetAuthConfig(key); err != nil {
				return nil, fmt.Errorf("reading credentials for %s from docker-credential-%s: %w", key, helper, err)
			}
		}
		if !hasCredentials(ac) {
			if ac, err = plain.GetAuthConfig(key); err != nil {
				return nil, fmt.Errorf("reading credentials for %s: %w", key, err)
			}
		}
		if hasCredentials(ac) {
			return authn.FromConfig(authn.AuthConfig{
				Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
				IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}

// load reads the config file, or returns nil when there is none; p is
// the file read.
func (k configKeychain) load() (cf *configfile.ConfigFile, p string, _ error) {
	dir := dockerConfigDir(k.dir)
	p = filepath.Join(dir, config.ConfigFileName)
	if _, err := os.Stat(p); err == nil {
		cf, err := config.Load(dir)
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", p, err)
		}
		return cf, p, nil
	}
	if k.dir != "" {
		return nil, "", nil
	}
	for _, p := range podmanAuthFiles() {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		cf, err := config.LoadFromReader(f)
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", p, err)
		}
		return cf, p, nil
	}
	return nil, "", nil
}

// dockerConfigDir is dir, or when that is "" $DOCKER_CONFIG, else
// ~/.docker (config.Dir() keeps the first it saw).
func dockerConfigDir(dir string) string {
	if dir == "" {
		dir = os.Getenv("DOCKER_CONFIG")
	}
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	return dir
}

// podmanAuthFiles are where podman keeps logins, in the order
// authn.DefaultKeychain reads them when there is no docker config.
func podmanAuthFiles() []string {
	var files []string
	if p := os.Getenv("REGISTRY_AUTH_FILE"); p != "" {
		files = append(files, p)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	configHome := os.Getenv("XDG_CONFIG_HOME")
	if home, err := os.UserHomeDir(); configHome == "" && err == nil {
		configHome = filepath.Join(home, ".config")
	}
	if configHome != "" {
		files = append(files, filepath.Join(configHome, "containers", "auth.json"))
	}
	return files
}

func hasCredentials(ac types.AuthConfig) bool {
	return ac.Username != "" || ac.Password != "" || ac.Auth != "" || ac.IdentityToken != "" || ac.RegistryToken != ""
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
type secretKeychain struct {
	dir string
	// cf, when loaded is set, is .dockerconfigjson as read once (nil:
	// none, or a config.json beside it).
	cf     *configfile.ConfigFile
	loaded bool
}

// load reads .dockerconfigjson, or returns nil when there is none or a
// config.json beside it; p is the file read.
func (k secretKeychain) load() (cf *configfile.ConfigFile, p string, _ error) {
	dir := dockerConfigDir(k.dir)
	if _, err := os.Stat(filepath.Join(dir, config.ConfigFileName)); err == nil {
		return nil, "", nil
	}
	p = filepath.Join(dir, ".dockerconfigjson")
	f, err := os.Open(p)
	if err != nil {
		return nil, "", nil
	}
	defer f.Close()
	if cf, err = config.LoadFromReader(f); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", p, err)
	}
	return cf, p, nil
}

func (k secretKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	cf, err := k.cf, error(nil)
	if !k.loaded {
		cf, _, err = k.load()
	}
	if err != nil || cf == nil {
		return authn.Anonymous, err
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
