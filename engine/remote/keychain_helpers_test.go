package remote

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// buildHelper builds testdata/docker-credential-e2etest, a real credential
// helper, into dir once for each of names, and gives each the credentials
// creds (server -> user) as user/<user>-pass.
func buildHelper(t *testing.T, dir string, creds map[string]string, names ...string) {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("finding the go command to build the test helper: %v", err)
	}
	built := filepath.Join(t.TempDir(), "helper")
	cmd := exec.Command(goBin, "build", "-o", built, "./testdata/docker-credential-e2etest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test helper: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]map[string]string{}
	for server, user := range creds {
		table[server] = map[string]string{"Username": user, "Secret": user + "-pass"}
	}
	data, err := json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// helperLog is what the helper installed as dir/name was asked, one
// "<name> get <server>" line per request.
func helperLog(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name+".log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

func writeConfig(t *testing.T, dir, cfg string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func resource(t *testing.T, s string) authn.Resource {
	t.Helper()
	if strings.Contains(s, "/") {
		r, err := name.NewRepository(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r, err := name.NewRegistry(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// login resolves res with kc and returns user:password, "" for anonymous.
func login(t *testing.T, kc authn.Keychain, res string) string {
	t.Helper()
	a, err := kc.Resolve(resource(t, res))
	if err != nil {
		t.Fatalf("%s: %v", res, err)
	}
	if a == authn.Anonymous {
		return ""
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatalf("%s: %v", res, err)
	}
	if cfg.Auth != "" {
		dec, err := base64.StdEncoding.DecodeString(cfg.Auth)
		if err != nil {
			t.Fatal(err)
		}
		return string(dec)
	}
	return cfg.Username + ":" + cfg.Password
}

func basicAuth(user string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + user + "-pass"))
}

// credHelpers and credsStore naming a helper that is not built in run
// docker-credential-<name> from PATH, as docker does, with the same
// config.json given as --docker-config and found through $DOCKER_CONFIG.
func TestKeychainRunsCredentialHelpersFromPath(t *testing.T) {
	bin := t.TempDir()
	buildHelper(t, bin, map[string]string{
		"127.0.0.1:5000":              "helper",
		"https://index.docker.io/v1/": "hub-helper",
	}, "docker-credential-e2etest")
	t.Setenv("PATH", bin)
	t.Setenv("HOME", t.TempDir())
	auths := `"auths":{"127.0.0.1:6000":{"auth":"` + basicAuth("auths") + `"}}`
	for _, tc := range []struct {
		name, config string
		want         map[string]string // resource -> user:password
		asked        []string          // servers the helper must have been asked about
	}{
		{"credHelpers", `{"credHelpers":{"127.0.0.1:5000":"e2etest","127.0.0.1:7000":"e2etest"},` + auths + `}`,
			map[string]string{
				"127.0.0.1:5000/team/app": "helper:helper-pass",
				"127.0.0.1:5000":          "helper:helper-pass",
				"127.0.0.1:6000/app":      "auths:auths-pass", // not named in credHelpers: auths
				"127.0.0.1:7000":          "",                 // the helper has nothing
				"127.0.0.1:8000":          "",
			},
			[]string{"get 127.0.0.1:5000\n", "get 127.0.0.1:7000\n"}},
		{"credsStore", `{"credsStore":"e2etest",` + auths + `}`,
			map[string]string{
				"127.0.0.1:5000/team/app":         "helper:helper-pass",
				"index.docker.io/library/busybox": "hub-helper:hub-helper-pass",
				"127.0.0.1:6000/app":              "auths:auths-pass", // the helper has nothing: auths
				"127.0.0.1:8000":                  "",
			},
			[]string{"get 127.0.0.1:5000/team/app\n", "get 127.0.0.1:5000\n", "get https://index.docker.io/v1/\n"}},
	} {
		for _, via := range []string{"--docker-config", "DOCKER_CONFIG"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				dir := t.TempDir()
				writeConfig(t, dir, tc.config)
				os.Remove(filepath.Join(bin, "docker-credential-e2etest.log"))
				kc := Keychain(dir)
				if via == "DOCKER_CONFIG" {
					t.Setenv("DOCKER_CONFIG", dir)
					kc = Keychain("")
				}
				for res, want := range tc.want {
					if got := login(t, kc, res); got != want {
						t.Errorf("%s: got %q, want %q", res, got, want)
					}
				}
				log := helperLog(t, bin, "docker-credential-e2etest")
				for _, s := range tc.asked {
					if !strings.Contains(log, s) {
						t.Errorf("the helper was not asked %q; its log:\n%s", s, log)
					}
				}
			})
		}
	}

	// A helper that is not on PATH is an error, as with docker.
	dir := t.TempDir()
	writeConfig(t, dir, `{"credHelpers":{"127.0.0.1:5000":"not-installed"}}`)
	_, err := Keychain(dir).Resolve(resource(t, "127.0.0.1:5000"))
	if err == nil || !strings.Contains(err.Error(), "docker-credential-not-installed") {
		t.Errorf("a helper missing from PATH: got error %v, want one naming docker-credential-not-installed", err)
	}
}

// cloudFakes count the requests that the fake ECR endpoint and the fake
// Azure Active Directory have answered.
type cloudFakes struct {
	ecr, aad atomic.Int64
}

// cloudEnv points the cloud SDKs at fakes on 127.0.0.1 and away from
// everything else: no credentials but the ones given here, no metadata
// servers, no files of the host's user, and PATH only bin (where it adds
// a fake gcloud).
func cloudEnv(t *testing.T, bin string) *cloudFakes {
	t.Helper()
	f := &cloudFakes{}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PATH", bin)
	// Amazon: GetAuthorizationToken answered by a fake ECR endpoint.
	ecrSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ecr.Add(1)
		io.Copy(io.Discard, r.Body)
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetAuthorizationToken") {
			http.Error(w, "unexpected call", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:ecr-token")),
			"expiresAt":          time.Now().Add(time.Hour).Unix(),
			"proxyEndpoint":      "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
		}}})
	}))
	t.Cleanup(ecrSrv.Close)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      "AKIDE2ETEST",
		"AWS_SECRET_ACCESS_KEY":                  "e2e-secret",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_PROFILE":                            "",
		"AWS_CONFIG_FILE":                        filepath.Join(home, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(home, "aws-credentials"),
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT":      "http://127.0.0.1:1",
		"AWS_ENDPOINT_URL":                       "http://127.0.0.1:1",
		"AWS_ENDPOINT_URL_ECR":                   ecrSrv.URL,
		"AWS_ENDPOINT_URL_ECR_PUBLIC":            "http://127.0.0.1:1",
		"AWS_ECR_DISABLE_CACHE":                  "true",
	} {
		t.Setenv(k, v)
	}
	// Azure: a cloud whose Active Directory is a fake that refuses the
	// service principal, so that the helper never goes on to the
	// registry's own token exchange (which would leave 127.0.0.1).
	aadSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.aad.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client","error_description":"e2e fake"}`)
	}))
	t.Cleanup(aadSrv.Close)
	envFile := filepath.Join(home, "azure-env.json")
	azure, err := json.Marshal(map[string]string{
		"name":                    "E2ETest",
		"activeDirectoryEndpoint": aadSrv.URL + "/",
		"resourceManagerEndpoint": aadSrv.URL + "/arm/",
		"tokenAudience":           aadSrv.URL + "/arm/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(envFile, azure, 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AZURE_ENVIRONMENT":          "AZURESTACKCLOUD",
		"AZURE_ENVIRONMENT_FILEPATH": envFile,
		"AZURE_CLIENT_ID":            "e2e-client",
		"AZURE_CLIENT_SECRET":        "e2e-secret",
		"AZURE_TENANT_ID":            "e2e-tenant",
		"AZURE_CERTIFICATE_PATH":     "",
		"AZURE_USERNAME":             "",
		"AZURE_FEDERATED_TOKEN":      "",
		"AZURE_FEDERATED_TOKEN_FILE": "",
		"AZURE_AD_RESOURCE":          "",
		"MSI_ENDPOINT":               "http://127.0.0.1:1",
		"IDENTITY_ENDPOINT":          "http://127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	// Google: no Application Default Credentials (a missing file stops
	// the search before the metadata server), then the gcloud fallback:
	// a fake gcloud on PATH.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(home, "no-such-credentials.json"))
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	t.Setenv("CLOUDSDK_CONFIG", filepath.Join(home, "gcloud"))
	gcloud := "#!/bin/sh\necho '{\"credential\":{\"access_token\":\"gcloud-token\",\"token_expiry\":\"2099-01-01T00:00:00Z\"}}'\n"
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(gcloud), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// The config.json files of Kaniko's documented set-ups for ECR, GCR and
// Artifact Registry, and ACR name helpers that Kaniko's image shipped in
// /kaniko: here the built-in logins answer, in-process, for the registries
// the entries name (credsStore: any), and no docker-credential-* runs. The
// PATH holds helpers under those names that would answer "exec:<name>" to
// show it if one ran. Every cloud is a fake on 127.0.0.1.
//
// google.Keychain keeps the first credentials it finds for the process:
// no other test here may resolve a Google registry.
func TestKeychainBuiltinCredentialHelpers(t *testing.T) {
	// The helpers that Kaniko's image shipped in /kaniko and ours has
	// built in: when they are named in config.json, none may run.
	builtinNames := []string{"docker-credential-ecr-login", "docker-credential-acr-env", "docker-credential-gcr", "docker-credential-gcloud"}
	bin := t.TempDir()
	const ecrHost, acrHost = "123456789012.dkr.ecr.us-east-1.amazonaws.com", "myregistry.azurecr.io"
	trap := map[string]string{}
	for _, h := range []string{ecrHost, acrHost, "gcr.io", "us-docker.pkg.dev", "127.0.0.1:6000", "127.0.0.1:8000", "https://index.docker.io/v1/"} {
		trap[h] = "exec"
	}
	buildHelper(t, bin, trap, builtinNames...)
	acrBin := t.TempDir() // on PATH only for the last subtest
	buildHelper(t, acrBin, map[string]string{acrHost: "acr-helper"}, "docker-credential-acr")
	fakes := cloudEnv(t, bin)
	auths := `"auths":{"127.0.0.1:6000":{"auth":"` + basicAuth("auths") + `"}}`
	const ecr, gcloud = "AWS:ecr-token", "_token:gcloud-token"
	for _, tc := range []struct {
		name, config string
		want         map[string]string
		ecr, aad     bool // whether the fake ECR and Active Directory must have been asked
	}{
		{"ecr-credsStore", `{"credsStore":"ecr-login"}`, map[string]string{
			ecrHost + "/app":   ecr,
			"127.0.0.1:8000/x": "", // not ECR: the helper has nothing
		}, true, false},
		{"ecr-credsStore-auths", `{"credsStore":"ecr-login",` + auths + `}`, map[string]string{
			ecrHost:            ecr,
			"127.0.0.1:6000/x": "auths:auths-pass",
		}, true, false},
		{"ecr-credHelpers", `{"credHelpers":{"` + ecrHost + `":"ecr-login"},` + auths + `}`, map[string]string{
			ecrHost + "/team/app": ecr,
			"127.0.0.1:6000":      "auths:auths-pass",
			"127.0.0.1:8000":      "",
		}, true, false},
		{"gcr-credHelpers", `{"credHelpers":{"gcr.io":"gcr","us-docker.pkg.dev":"gcloud"},` + auths + `}`, map[string]string{
			"gcr.io/project/app":                 gcloud,
			"us-docker.pkg.dev/project/repo/app": gcloud,
			"127.0.0.1:6000/x":                   "auths:auths-pass",
		}, false, false},
		// The fake Active Directory refuses the service principal: no
		// credentials, and no error, as with Kaniko's helper.
		{"acr-credHelpers", `{"credHelpers":{"` + acrHost + `":"acr-env"},` + auths + `}`, map[string]string{
			acrHost + "/app":   "",
			"127.0.0.1:6000/x": "auths:auths-pass",
		}, false, true},
		// Kaniko's README: { "credsStore": "acr" }.
		{"acr-credsStore", `{"credsStore":"acr"}`, map[string]string{acrHost: ""}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeConfig(t, dir, tc.config)
			ecrBefore, aadBefore := fakes.ecr.Load(), fakes.aad.Load()
			start := time.Now()
			// configKeychain alone: the clouds' keychains that Keychain
			// adds after it would answer for their hosts anyway.
			for res, want := range tc.want {
				if got := login(t, configKeychain{dir: dir}, res); got != want {
					t.Errorf("%s: got %q, want %q", res, got, want)
				}
				if got := login(t, Keychain(dir), res); got != want {
					t.Errorf("%s through Keychain: got %q, want %q", res, got, want)
				}
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("resolving took %s", took)
			}
			if asked := fakes.ecr.Load() > ecrBefore; asked != tc.ecr {
				t.Errorf("the ECR login asked the fake ECR: %v, want %v", asked, tc.ecr)
			}
			if asked := fakes.aad.Load() > aadBefore; asked != tc.aad {
				t.Errorf("the ACR login asked the fake Active Directory: %v, want %v", asked, tc.aad)
			}
			for _, n := range builtinNames {
				if log := helperLog(t, bin, n); log != "" {
					t.Errorf("%s ran:\n%s", n, log)
				}
			}
		})
	}

	// Without AWS credentials: no credentials and no error, fast, and no
	// request anywhere.
	t.Run("ecr-no-aws-credentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		dir := t.TempDir()
		writeConfig(t, dir, `{"credHelpers":{"`+ecrHost+`":"ecr-login"}}`)
		before := fakes.ecr.Load()
		start := time.Now()
		if got := login(t, Keychain(dir), ecrHost+"/app"); got != "" {
			t.Errorf("got %q, want anonymous", got)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("resolving took %s", took)
		}
		if fakes.ecr.Load() != before {
			t.Error("the ECR login called ECR without credentials")
		}
	})

	// "acr" runs docker-credential-acr when there is one.
	t.Run("acr-from-path", func(t *testing.T) {
		t.Setenv("PATH", bin+string(os.PathListSeparator)+acrBin)
		dir := t.TempDir()
		writeConfig(t, dir, `{"credsStore":"acr"}`)
		if got := login(t, configKeychain{dir: dir}, acrHost); got != "acr-helper:acr-helper-pass" {
			t.Errorf("got %q, want docker-credential-acr's credentials", got)
		}
	})
}
