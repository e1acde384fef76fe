package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
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
