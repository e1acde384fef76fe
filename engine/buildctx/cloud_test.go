package buildctx

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/spf13/pflag"

	azuritepkg "github.com/kaniko-build/kaniko-build/e2e/azurite"
)

// loadCloud loads src with cloud's settings into a new temporary
// directory, and checks, when it loads, that it is contextEntries.
func loadCloud(t *testing.T, src string, cloud CloudOptions) error {
	t.Helper()
	tmp := t.TempDir()
	c, _, text, err := Load(context.Background(), Options{Source: src, Cloud: cloud}, tmp)
	if err != nil {
		return err
	}
	if want := "FROM scratch\nCOPY . /\n"; string(text) != want {
		t.Errorf("Load(%s): Dockerfile %q, want %q", src, text, want)
	}
	checkContext(t, c.Dir, tmp)
	return nil
}

// wantError checks that err names src and says want, and shows none of
// secrets.
func wantError(t *testing.T, src string, err error, want string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load(%s) succeeded, want an error with %q", src, want)
	}
	msg := err.Error()
	if !strings.Contains(msg, "context "+src) || !strings.Contains(msg, want) {
		t.Errorf("Load(%s): error %q does not name the URL and say %q", src, msg, want)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("Load(%s): the error shows the secret %q: %s", src, s, msg)
		}
	}
	t.Logf("error: %s", msg)
}

// isolateAWS clears the variables the AWS SDK reads and points its files
// at nothing, so that only what the test sets is used.
func isolateAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "S3_ENDPOINT", "S3_FORCE_PATH_STYLE",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestFetchS3 reads s3:// contexts from gofakes3, an S3 implementation,
// on 127.0.0.1.
func TestFetchS3(t *testing.T) {
	tgz := compress(t, "gzip", makeTar(t, contextEntries))
	backend := s3mem.New()
	if err := backend.CreateBucket("ctx-bucket"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"app/context.tar.gz", "context.tar.gz", "with space/ctx.tar.gz"} {
		if _, err := backend.PutObject("ctx-bucket", key, map[string]string{}, bytes.NewReader(tgz), int64(len(tgz)), nil); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()

	const secret = "s3-secret-7f3e9a"
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDKANIKOBUILD")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	// As the executor has it: from the environment, through AddFlags.
	t.Setenv("S3_ENDPOINT", srv.URL)
	t.Setenv("S3_FORCE_PATH_STYLE", "true")
	var o Options
	o.AddFlags(pflag.NewFlagSet("test", pflag.ContinueOnError))
	if o.Cloud.S3Endpoint != srv.URL || !o.Cloud.S3ForcePathStyle {
		t.Fatalf("AddFlags: Cloud = %+v, want S3_ENDPOINT and S3_FORCE_PATH_STYLE", o.Cloud)
	}
	for _, src := range []string{
		"s3://ctx-bucket/app/context.tar.gz",
		"s3://ctx-bucket/with space/ctx.tar.gz",
		// No path: context.tar.gz, as in Kaniko.
		"s3://ctx-bucket",
		"s3://ctx-bucket/",
	} {
		if err := loadCloud(t, src, o.Cloud); err != nil {
			t.Errorf("Load(%s): %v", src, err)
		}
	}

	for _, tc := range []struct{ src, want string }{
		{"s3://ctx-bucket/app/missing.tar.gz", "HTTP 404: NoSuchKey"},
		{"s3://no-such-bucket/context.tar.gz", "HTTP 404: NoSuchBucket"},
		{"s3:///context.tar.gz", "no bucket"},
	} {
		wantError(t, tc.src, loadCloud(t, tc.src, o.Cloud), tc.want, secret)
	}

	// No credentials anywhere in the chain: the SDK says so before it
	// sends anything.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	src := "s3://ctx-bucket/app/context.tar.gz"
	wantError(t, src, loadCloud(t, src, o.Cloud), "credentials", secret)
	// A profile that is not there.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDKANIKOBUILD")
	t.Setenv("AWS_PROFILE", "no-such-profile")
	wantError(t, src, loadCloud(t, src, o.Cloud), "no-such-profile", secret)
}

// fakeGCS starts fake-gcs-server, a Cloud Storage emulator, on 127.0.0.1
// with one context under three names in bucket ctx-bucket.
func fakeGCS(t *testing.T) *fakestorage.Server {
	t.Helper()
	tgz := compress(t, "gzip", makeTar(t, contextEntries))
	var objects []fakestorage.Object
	for _, name := range []string{"app/context.tar.gz", "context.tar.gz", "a b+c%.tar.gz"} {
		objects = append(objects, fakestorage.Object{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ctx-bucket", Name: name},
			Content:     tgz,
		})
	}
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		InitialObjects: objects,
		Scheme:         "http",
		Host:           "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// TestFetchGCS reads gs:// contexts from fake-gcs-server.
func TestFetchGCS(t *testing.T) {
	srv := fakeGCS(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("HOME", t.TempDir())

	hostPort := strings.TrimPrefix(srv.URL(), "http://")
	for _, tc := range []struct {
		src, emulator string
	}{
		{"gs://ctx-bucket/app/context.tar.gz", srv.URL()},
		{"gs://ctx-bucket/app/context.tar.gz", hostPort},
		{"gs://ctx-bucket/a b+c%.tar.gz", hostPort},
		{"gs://ctx-bucket", hostPort},
	} {
		if err := loadCloud(t, tc.src, CloudOptions{StorageEmulatorHost: tc.emulator}); err != nil {
			t.Errorf("Load(%s) from %s: %v", tc.src, tc.emulator, err)
		}
	}
	// From the environment, as the executor reads it.
	t.Setenv("STORAGE_EMULATOR_HOST", hostPort)
	if got := CloudOptionsFromEnv(os.Getenv).StorageEmulatorHost; got != hostPort {
		t.Errorf("CloudOptionsFromEnv: StorageEmulatorHost %q, want %q", got, hostPort)
	}

	emu := CloudOptions{StorageEmulatorHost: hostPort}
	for _, tc := range []struct{ src, want string }{
		{"gs://ctx-bucket/app/missing.tar.gz", "HTTP 404"},
		{"gs://no-such-bucket/context.tar.gz", "HTTP 404"},
		{"gs:///x.tar.gz", "no bucket"},
	} {
		wantError(t, tc.src, loadCloud(t, tc.src, emu), tc.want)
	}

	// Bad credentials, against Google itself (no emulator): each fails
	// before anything is sent, naming the URL and what is wrong, and
	// showing no key.
	src := "gs://ctx-bucket/app/context.tar.gz"
	dir := t.TempDir()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(dir, "missing.json"))
	wantError(t, src, loadCloud(t, src, CloudOptions{}), "finding Google credentials")

	const marker = "c2VjcmV0LWtleS1tYXRlcmlhbA"
	badKey := "-----BEGIN PRIVATE KEY-----\n" + marker + "\n-----END PRIVATE KEY-----\n"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	goodKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	// A port nothing listens on: the token is refused there.
	closed := freePort(t)
	for _, tc := range []struct {
		name, key, want string
	}{
		{"unusable key", badKey, "private key"},
		{"token refused", goodKey, "cannot fetch token"},
	} {
		creds, err := json.Marshal(map[string]string{
			"type":           "service_account",
			"project_id":     "kaniko-build-test",
			"private_key_id": "k1",
			"private_key":    tc.key,
			"client_email":   "ctx@kaniko-build-test.iam.gserviceaccount.com",
			"client_id":      "1",
			"token_uri":      fmt.Sprintf("http://127.0.0.1:%d/token", closed),
		})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(p, creds, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", p)
		wantError(t, src, loadCloud(t, src, CloudOptions{}), tc.want, marker, strings.Split(goodKey, "\n")[1])
	}
}

// TestFetchGCSRetries reads a gs:// context through a proxy that answers
// 503, then 429, then drops the connection, before it lets the request
// through to fake-gcs-server: the download retries each and lands.
func TestFetchGCSRetries(t *testing.T) {
	backend, err := url.Parse(fakeGCS(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(seen)
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		switch n {
		case 0:
			http.Error(w, "backend unavailable", http.StatusServiceUnavailable)
		case 1:
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case 2:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()

	src := "gs://ctx-bucket/app/context.tar.gz"
	if err := loadCloud(t, src, CloudOptions{StorageEmulatorHost: srv.URL}); err != nil {
		t.Fatalf("Load(%s) through a flaky proxy: %v", src, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 4 {
		t.Errorf("the proxy saw %d requests, want 4 (three refused, one served): %q", len(seen), seen)
	}
}

// freePort is a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// azurite starts Azurite's Blob service on 127.0.0.1 with the one
// account given. The test is skipped without azurite-blob, except in CI,
// whose machine has it.
func azurite(t *testing.T, account string) *azuritepkg.Server {
	t.Helper()
	srv, err := azuritepkg.Start(t.TempDir(), account)
	if errors.Is(err, azuritepkg.ErrNotInstalled) {
		cannotHere(t, "%v: Azure Blob contexts are not tested", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestFetchAzureBlob reads Azure Blob contexts from Azurite, Microsoft's
// Blob service emulator, named by AZURE_STORAGE_BLOB_ENDPOINT.
func TestFetchAzureBlob(t *testing.T) {
	const account = "ctxaccount"
	srv := azurite(t, account)
	key, endpoint := srv.Key, srv.Endpoint
	ctx := context.Background()
	tgz := compress(t, "gzip", makeTar(t, contextEntries))
	for _, name := range []string{"app/context.tar.gz", "context.tar.gz", "a b.tar.gz"} {
		if err := srv.Upload(ctx, "ctx", name, tgz); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("AZURE_STORAGE_ACCESS_KEY", key)
	t.Setenv("AZURE_STORAGE_BLOB_ENDPOINT", endpoint)
	var o Options
	o.AddFlags(pflag.NewFlagSet("test", pflag.ContinueOnError))
	cloud := o.Cloud
	if string(cloud.AzureAccessKey) != key || cloud.AzureBlobEndpoint != endpoint {
		t.Fatalf("AddFlags did not read AZURE_STORAGE_ACCESS_KEY and AZURE_STORAGE_BLOB_ENDPOINT")
	}
	for _, src := range []string{
		endpoint + "/ctx/app/context.tar.gz",
		endpoint + "/ctx/a%20b.tar.gz",
		// No blob: context.tar.gz.
		endpoint + "/ctx",
	} {
		if err := loadCloud(t, src, cloud); err != nil {
			t.Errorf("Load(%s): %v", src, err)
		}
	}

	src := endpoint + "/ctx/app/missing.tar.gz"
	wantError(t, src, loadCloud(t, src, cloud), "HTTP 404: BlobNotFound", key)
	src = endpoint + "/nocontainer/context.tar.gz"
	wantError(t, src, loadCloud(t, src, cloud), "HTTP 404: ContainerNotFound", key)

	// A wrong key: Azurite refuses the signature (AuthorizationFailure
	// where Azure says AuthenticationFailed).
	src = endpoint + "/ctx/app/context.tar.gz"
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	raw[0]++
	wrong := base64.StdEncoding.EncodeToString(raw)
	bad := cloud
	bad.AzureAccessKey = Secret(wrong)
	wantError(t, src, loadCloud(t, src, bad), "(check AZURE_STORAGE_ACCESS_KEY, the key of storage account ctxaccount)", wrong, key)
	// Not a key at all.
	bad.AzureAccessKey = "not-base64-" + Secret(key[:20])
	wantError(t, src, loadCloud(t, src, bad), "AZURE_STORAGE_ACCESS_KEY", key[:20])
	// No key: fetched as any URL, which the private container refuses.
	bad.AzureAccessKey = ""
	wantError(t, src, loadCloud(t, src, bad), "AZURE_STORAGE_ACCESS_KEY is not set")
	// Without AZURE_STORAGE_BLOB_ENDPOINT the emulator's URL is a plain
	// http:// one, key or not.
	bad = cloud
	bad.AzureBlobEndpoint = ""
	err = loadCloud(t, src, bad)
	wantError(t, src, err, "403", key)
	if strings.Contains(err.Error(), "Azure") {
		t.Errorf("a URL outside AZURE_STORAGE_BLOB_ENDPOINT is taken for Azure: %v", err)
	}
}

func TestParseAzureBlob(t *testing.T) {
	for _, tc := range []struct {
		src, endpoint string
		want          azureBlobURL // zero: not an Azure Blob URL
	}{
		{"https://acct.blob.core.windows.net/ctx/app/context.tar.gz", "",
			azureBlobURL{"https://acct.blob.core.windows.net", "acct", "ctx", "app/context.tar.gz"}},
		{"https://Acct.Blob.Core.Windows.Net/ctx/a%20b.tar.gz", "",
			azureBlobURL{"https://Acct.Blob.Core.Windows.Net", "Acct", "ctx", "a b.tar.gz"}},
		{"https://acct.blob.core.windows.net/ctx", "",
			azureBlobURL{"https://acct.blob.core.windows.net", "acct", "ctx", "context.tar.gz"}},
		{"https://acct.blob.core.chinacloudapi.cn/c/x.tar.gz", "", azureBlobURL{"https://acct.blob.core.chinacloudapi.cn", "acct", "c", "x.tar.gz"}},
		{"https://acct.blob.core.cloudapi.de/c/x.tar.gz", "", azureBlobURL{"https://acct.blob.core.cloudapi.de", "acct", "c", "x.tar.gz"}},
		{"https://acct.blob.core.usgovcloudapi.net/c/x.tar.gz", "", azureBlobURL{"https://acct.blob.core.usgovcloudapi.net", "acct", "c", "x.tar.gz"}},
		// An emulator, path style.
		{"http://127.0.0.1:10000/devstoreaccount1/ctx/x.tar.gz", "http://127.0.0.1:10000/devstoreaccount1",
			azureBlobURL{"http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "ctx", "x.tar.gz"}},
		{"http://127.0.0.1:10000/devstoreaccount1/ctx/x.tar.gz", "http://127.0.0.1:10000/devstoreaccount1/",
			azureBlobURL{"http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "ctx", "x.tar.gz"}},
		// A custom domain.
		{"https://ctx.example.com/c/x.tar.gz", "https://ctx.example.com",
			azureBlobURL{"https://ctx.example.com", "ctx", "c", "x.tar.gz"}},
		// Not Azure Blob: any other https:// tarball, and lookalikes.
		{"https://example.com/ctx/context.tar.gz", "", azureBlobURL{}},
		{"https://example.com/ctx/context.tar.gz", "http://127.0.0.1:10000/devstoreaccount1", azureBlobURL{}},
		{"http://127.0.0.1:10000/other/ctx/x.tar.gz", "http://127.0.0.1:10000/devstoreaccount1", azureBlobURL{}},
		{"http://127.0.0.1:10000/devstoreaccount10/ctx/x.tar.gz", "http://127.0.0.1:10000/devstoreaccount1", azureBlobURL{}},
		{"https://127.0.0.1:10000/devstoreaccount1/ctx/x.tar.gz", "http://127.0.0.1:10000/devstoreaccount1", azureBlobURL{}},
		{"http://acct.blob.core.windows.net/ctx/x.tar.gz", "", azureBlobURL{}},
		{"https://blob.core.windows.net/ctx/x.tar.gz", "", azureBlobURL{}},
		{"https://acct.blob.core.windows.net.example.com/ctx/x.tar.gz", "", azureBlobURL{}},
		{"https://acct.blob.core.windows.net/", "", azureBlobURL{}},
		{"https://user:pw@acct.blob.core.windows.net/c/x", "", azureBlobURL{}},
	} {
		got, ok := parseAzureBlob(tc.src, tc.endpoint)
		if ok != (tc.want != azureBlobURL{}) || got != tc.want {
			t.Errorf("parseAzureBlob(%s, %q) = %+v, %v; want %+v", tc.src, tc.endpoint, got, ok, tc.want)
		}
	}
}

// TestFetchSchemes: a scheme:// that no context has is refused, not
// taken for a directory.
func TestFetchSchemes(t *testing.T) {
	for _, src := range []string{"ftp://host/ctx.tar.gz", "oci://x", "S3+x://b/k", "file:///ctx"} {
		if dir, err := Fetch(context.Background(), src, FetchOptions{TempDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "unknown scheme") {
			t.Errorf("Fetch(%s) = %s, %v; want an unknown scheme", src, dir, err)
		}
	}
	for _, src := range []string{"/a/b://c", "./x://y", "1abc://d", "://x"} {
		if dir, err := Fetch(context.Background(), src, FetchOptions{TempDir: t.TempDir()}); err != nil || dir != src {
			t.Errorf("Fetch(%s) = %s, %v; want the directory as it is", src, dir, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com/ctx.tar.gz":                          "https://example.com/ctx.tar.gz",
		"https://acct.blob.core.windows.net/c/x?sv=1&sig=s3cr3t":  "https://acct.blob.core.windows.net/c/x?…",
		"https://user:s3cr3t@example.com/ctx.tar.gz":              "https://user:xxxxx@example.com/ctx.tar.gz",
		"https://[::1/bad":                                        "https://[::1/bad",
		"http://127.0.0.1:10000/devstoreaccount1/c/x.tar.gz":      "http://127.0.0.1:10000/devstoreaccount1/c/x.tar.gz",
		"https://s3.example.com/b/k?X-Amz-Signature=abc&X-Amz-C=": "https://s3.example.com/b/k?…",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestCloudOptionsHidden prints and logs Options holding an Azure key
// every way at hand: the key never shows, the endpoints do.
func TestCloudOptionsHidden(t *testing.T) {
	const key = "azure-key-5d1e0b"
	env := map[string]string{
		"S3_ENDPOINT":                 "http://127.0.0.1:9000",
		"S3_FORCE_PATH_STYLE":         "TRUE",
		"AZURE_STORAGE_ACCESS_KEY":    key,
		"AZURE_STORAGE_BLOB_ENDPOINT": "http://127.0.0.1:10000/devstoreaccount1",
		"STORAGE_EMULATOR_HOST":       "127.0.0.1:4443",
	}
	c := CloudOptionsFromEnv(func(k string) string { return env[k] })
	want := CloudOptions{"http://127.0.0.1:9000", true, key, "http://127.0.0.1:10000/devstoreaccount1", "127.0.0.1:4443"}
	if c != want {
		t.Fatalf("CloudOptionsFromEnv = %#v, want %#v", c, want)
	}
	o := Options{Source: "https://acct.blob.core.windows.net/c/x.tar.gz", Cloud: c}
	var out []string
	for _, v := range []any{c, &c, o, &o, c.AzureAccessKey} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
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
		slog.New(h).Info("x", "cloud", c, "opt", o, "ptr", &o, "key", c.AzureAccessKey)
	}
	out = append(out, logs.String())
	for _, s := range out {
		if strings.Contains(s, key) {
			t.Errorf("key shown: %s", s)
		}
	}
	if s := fmt.Sprintf("%+v", c); !strings.Contains(s, "AzureAccessKey:redacted") || !strings.Contains(s, "127.0.0.1:9000") {
		t.Errorf("CloudOptions prints %s", s)
	}
}
