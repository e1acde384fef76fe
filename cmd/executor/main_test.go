package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kaniko-build/kaniko-build/engine/run"
)

func TestExtraArgsJSONExpandsInPlace(t *testing.T) {
	got, err := expandExtraArgs([]string{"--a", `--extra-args-json=["--label=x=y","--reproducible"]`, "--b", "--", `--extra-args-json=["kept"]`})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--a", "--label=x=y", "--reproducible", "--b", "--", `--extra-args-json=["kept"]`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := expandExtraArgs([]string{"--extra-args-json=notjson"}); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestFlagsBindIntoOptions(t *testing.T) {
	var f flags
	fs := newFlagSet(&f)
	args := []string{"-d", "r/x:1", "--destination=r/y:2", "--build-arg", "A=1", `--build-args-json=["B=2"]`,
		"--insecure-registry=", "--registry-map", "index.docker.io=m1;m2", "--", "C=3", ""}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if fs.ArgsLenAtDash() != 0 {
		t.Fatalf("ArgsLenAtDash = %d", fs.ArgsLenAtDash())
	}
	f.opt.BuildArgs = append(f.opt.BuildArgs, nonEmpty(fs.Args())...)
	if err := f.finish(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "C=3", "B=2"}; !reflect.DeepEqual(f.opt.BuildArgs, want) {
		t.Errorf("build args %q, want %q", f.opt.BuildArgs, want)
	}
	if len(f.opt.InsecureRegistries) != 0 {
		t.Errorf("an empty --insecure-registry should mean none: %q", f.opt.InsecureRegistries)
	}
	if want := []string{"m1", "m2"}; !reflect.DeepEqual(f.opt.RegistryMap["index.docker.io"], want) {
		t.Errorf("registry map %v", f.opt.RegistryMap)
	}
}

func TestBadInputExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--no-such-flag"}, exitUsage, "unknown flag"},
		{[]string{"--no-push", "--compression=lz4"}, exitUsage, "--compression"},
		{[]string{"--context", "/x"}, exitUsage, "--destination is required"},
		{[]string{"--no-push", "stray"}, exitUsage, "unexpected arguments"},
		{[]string{"--no-push", "--context", t.TempDir()}, exitBuild, "--dockerfile"},
		{[]string{"--no-push", "--bucket", "b"}, exitUsage, "--bucket=b: Google Cloud Storage"},
		{[]string{"--no-push", "--registry-map", "=m"}, exitUsage, "--registry-map"},
	} {
		var stderr bytes.Buffer
		code := Main(context.Background(), tc.args, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%q: exit %d (%s), want %d with %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}

func TestVersionSubcommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var stderr bytes.Buffer
		if code := Main(context.Background(), args, &stderr); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr.String())
		}
	}
	if versionString() == "" {
		t.Error("empty version")
	}
}

// Kaniko's spellings of its flags and its environment variables keep
// working: pipelines switch images without other changes.
func TestKanikoCompatibility(t *testing.T) {
	t.Setenv("KANIKO_NO_PUSH", "true")
	t.Setenv("KANIKO_REGISTRY_MIRROR", "env-mirror")
	t.Setenv("KANIKO_REGISTRY_MAP", "quay.io=q1")
	t.Setenv("KANIKO_DIR", "/kaniko-elsewhere")
	var f flags
	fs := newFlagSet(&f)
	args := []string{"--tarPath=/out.tar", "--customPlatform=linux/arm64", "--snapshotMode=redo",
		"--whitelist-var-run=false", "--registry-mirror=m0",
		"--registry-map=index.docker.io=m1;gcr.io=g1", "--registry-map=index.docker.io=m2"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := f.fromEnv(); err != nil {
		t.Fatal(err)
	}
	if err := f.finish(); err != nil {
		t.Fatal(err)
	}
	o := f.opt
	if o.TarPath != "/out.tar" || o.Platform != "linux/arm64" || o.IgnoreVarRun || !o.NoPush || o.KanikoDir != "/kaniko-elsewhere" {
		t.Errorf("tar %q platform %q ignore-var-run %v no-push %v kaniko-dir %q", o.TarPath, o.Platform, o.IgnoreVarRun, o.NoPush, o.KanikoDir)
	}
	if want := []string{"m0", "env-mirror"}; !reflect.DeepEqual(o.RegistryMirrors, want) {
		t.Errorf("mirrors %q, want %q", o.RegistryMirrors, want)
	}
	want := map[string][]string{"index.docker.io": {"m1", "m2"}, "gcr.io": {"g1"}, "quay.io": {"q1"}}
	if !reflect.DeepEqual(o.RegistryMap, want) {
		t.Errorf("registry map %v, want %v", o.RegistryMap, want)
	}
	t.Setenv("KANIKO_NO_PUSH", "maybe")
	if err := f.fromEnv(); err == nil || !strings.Contains(err.Error(), "KANIKO_NO_PUSH") {
		t.Errorf("a bad KANIKO_NO_PUSH: %v", err)
	}
}

func TestBuildExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("Dockerfile:3: RUN exit 42: %w", &run.ExitError{Code: 42}), 42},
		{&run.ExitError{Code: -1}, exitBuild}, // killed by a signal
		{errors.New("pushing image: denied"), exitBuild},
	} {
		if got := buildExitCode(tc.err); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.code)
		}
	}
}
