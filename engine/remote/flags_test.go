package remote

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"
)

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]v1.Platform{
		"":                   {OS: runtime.GOOS, Architecture: runtime.GOARCH},
		"linux/amd64":        {OS: "linux", Architecture: "amd64"},
		"linux/arm64/v8":     {OS: "linux", Architecture: "arm64", Variant: "v8"},
		"windows/amd64:10.0": {OS: "windows", Architecture: "amd64", OSVersion: "10.0"},
		" linux/arm/v7 ":     {OS: "linux", Architecture: "arm", Variant: "v7"},
	} {
		got, err := ParsePlatform(in)
		if err != nil || !got.Equals(want) {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"linux", "linux/", "/amd64", "a/b/c/d", " "} {
		if p, err := ParsePlatform(in); err == nil {
			t.Errorf("%q: accepted as %+v", in, p)
		}
	}
}

func TestRegistryOptionsFinish(t *testing.T) {
	t.Setenv("KANIKO_REGISTRY_MIRROR", "env-mirror")
	t.Setenv("KANIKO_REGISTRY_MAP", "quay.io=q1")
	r := RegistryOptions{Certificates: map[string]string{"set.local": "/set.pem"}}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	r.AddFlags(fs)
	if err := fs.Parse([]string{"--registry-mirror=m0", "--registry-map=index.docker.io=m1;m2", "--registry-certificate=reg=/ca.pem",
		"--registry-client-cert=reg=/c.pem,/k.pem", "--image-fs-extract-retry=9", "--push-retry=3", "--skip-default-registry-fallback"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"m0", "env-mirror"}; !reflect.DeepEqual(r.Mirrors, want) {
		t.Errorf("mirrors %q, want %q", r.Mirrors, want)
	}
	if want := map[string][]string{"index.docker.io": {"m1", "m2"}, "quay.io": {"q1"}}; !reflect.DeepEqual(r.Map, want) {
		t.Errorf("map %v, want %v", r.Map, want)
	}
	if want := map[string]string{"set.local": "/set.pem", "reg": "/ca.pem"}; !reflect.DeepEqual(r.Certificates, want) {
		t.Errorf("certificates %v, want %v", r.Certificates, want)
	}
	if r.Retries != 9 {
		t.Errorf("retries %d, want the largest of the retry flags, 9", r.Retries)
	}
	o, err := r.Options(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS.ClientCerts["reg"] != [2]string{"/c.pem", "/k.pem"} || !o.MirrorsOnly || o.Platform.Architecture != "arm64" || o.shared == nil {
		t.Errorf("options %+v", o)
	}
	r.ClientCerts["bad"] = "/c.pem"
	if _, err := r.Options(v1.Platform{}); err == nil || !strings.Contains(err.Error(), "--registry-client-cert bad=/c.pem") {
		t.Errorf("a client cert without a key: %v", err)
	}
}
