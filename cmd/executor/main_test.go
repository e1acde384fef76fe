package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/cmd/internal/logflags"
	"github.com/kaniko-build/kaniko-build/engine"
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
	f.opt.Build.Args = append(f.opt.Build.Args, nonEmpty(fs.Args())...)
	if err := f.finish(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "C=3", "B=2"}; !reflect.DeepEqual(f.opt.Build.Args, want) {
		t.Errorf("build args %q, want %q", f.opt.Build.Args, want)
	}
	if len(f.opt.Registry.InsecureRegistries) != 0 {
		t.Errorf("an empty --insecure-registry should mean none: %q", f.opt.Registry.InsecureRegistries)
	}
	if want := []string{"m1", "m2"}; !reflect.DeepEqual(f.opt.Registry.Map["index.docker.io"], want) {
		t.Errorf("registry map %v", f.opt.Registry.Map)
	}
}

// todaysFlags are the executor's flags as they were before the options
// were grouped: name, shorthand, default. Kaniko's flags are our CLI
// contract; none may go or change.
var todaysFlags = [][3]string{
	{"bucket", "b", ""},
	{"build-arg", "", "[]"},
	{"build-args-json", "", ""},
	{"cache", "", "false"},
	{"cache-copy-layers", "", "true"},
	{"cache-dir", "", ""},
	{"cache-repo", "", ""},
	{"cache-run-layers", "", "true"},
	{"cache-ttl", "", "336h0m0s"},
	{"cleanup", "", "false"},
	{"compressed-caching", "", "false"},
	{"compression", "", "gzip"},
	{"compression-level", "", "-1"},
	{"context", "c", "/workspace/"},
	{"context-sub-path", "", ""},
	{"custom-platform", "", ""},
	{"destination", "d", "[]"},
	{"digest-file", "", ""},
	{"dockerfile", "f", "Dockerfile"},
	{"extra-args-json", "", ""},
	{"force", "", "false"},
	{"force-build-metadata", "", "false"},
	{"git", "", ""},
	{"ignore-path", "", "[]"},
	{"ignore-var-run", "", "true"},
	{"image-download-retry", "", "0"},
	{"image-format", "", ""},
	{"image-fs-extract-retry", "", "0"},
	{"image-name-tag-with-digest-file", "", ""},
	{"image-name-with-digest-file", "", ""},
	{"image-url-file", "", ""},
	{"images-file", "", ""},
	{"insecure", "", "false"},
	{"insecure-pull", "", "false"},
	{"insecure-registry", "", "[]"},
	{"kaniko-dir", "", "/kaniko"},
	{"label", "", "[]"},
	{"log-format", "", "text"},
	{"log-timestamp", "", "false"},
	{"materialize", "", "false"},
	{"no-push", "", "false"},
	{"no-push-cache", "", "false"},
	{"oci-layout-path", "", ""},
	{"preserve-context", "", "false"},
	{"push-by-digest", "", "false"},
	{"push-ignore-immutable-tag-errors", "", "false"},
	{"push-retry", "", "0"},
	{"registry-certificate", "", "[]"},
	{"registry-client-cert", "", "[]"},
	{"registry-map", "", "[]"},
	{"registry-mirror", "", "[]"},
	{"reproducible", "", "false"},
	{"secret", "", "[]"},
	{"consume-credentials", "", "false"},
	{"single-snapshot", "", "false"},
	{"skip-default-registry-fallback", "", "false"},
	{"skip-push-permission-check", "", "false"},
	{"skip-tls-verify", "", "false"},
	{"skip-tls-verify-pull", "", "false"},
	{"skip-tls-verify-registry", "", "[]"},
	{"skip-unused-stages", "", "false"},
	{"snapshot-mode", "", "full"},
	{"tar-path", "", ""},
	{"target", "", ""},
	{"use-new-run", "", "false"},
	{"verbosity", "v", "info"},
}

func TestEveryGroupsFlagsInTheExecutor(t *testing.T) {
	t.Setenv("KANIKO_DIR", "")
	var f flags
	fs := newFlagSet(&f)
	got := map[string]*pflag.Flag{}
	fs.VisitAll(func(fl *pflag.Flag) { got[fl.Name] = fl })
	for _, w := range todaysFlags {
		fl := got[w[0]]
		if fl == nil {
			t.Errorf("--%s is gone", w[0])
			continue
		}
		if fl.Shorthand != w[1] || fl.DefValue != w[2] {
			t.Errorf("--%s: shorthand %q default %q, want %q %q", w[0], fl.Shorthand, fl.DefValue, w[1], w[2])
		}
		delete(got, w[0])
	}
	for name := range got {
		t.Errorf("--%s is new: add it to todaysFlags if it is meant to be", name)
	}
	// Each group's flags are the executor's, as the group declares them.
	var o engine.Options
	var log logflags.Flags
	groups := map[string]func(*pflag.FlagSet){
		"Context": o.Context.AddFlags, "Build": o.Build.AddFlags, "Output": o.Output.AddFlags,
		"Registry": o.Registry.AddFlags, "Cache": o.Cache.AddFlags, "Root": o.Root.AddFlags, "log": log.AddFlags,
	}
	for group, add := range groups {
		gfs := pflag.NewFlagSet(group, pflag.ContinueOnError)
		add(gfs)
		if !gfs.HasFlags() {
			t.Errorf("%s declares no flags", group)
		}
		gfs.VisitAll(func(g *pflag.Flag) {
			fl := fs.Lookup(g.Name)
			if fl == nil {
				t.Errorf("%s's --%s is not the executor's", group, g.Name)
				return
			}
			if fl.Shorthand != g.Shorthand || fl.DefValue != g.DefValue || fl.Usage != g.Usage || fl.Value.Type() != g.Value.Type() {
				t.Errorf("%s's --%s differs from the executor's", group, g.Name)
			}
		})
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
		{[]string{"--destination", "reg/App:1"}, exitUsage, "--destination=reg/App:1: repository can only contain"},
		{[]string{"--no-push", "-d", "reg/app:a b"}, exitUsage, "--destination=reg/app:a b: tag can only contain"},
		{[]string{"-d", "reg/app@sha256:12"}, exitUsage, "--destination=reg/app@sha256:12: invalid checksum digest length"},
		{[]string{"--no-push", "stray"}, exitUsage, "unexpected arguments"},
		{[]string{"--no-push", "--context", t.TempDir()}, exitBuild, "--dockerfile"},
		{[]string{"--no-push", "--registry-map", "=m"}, exitUsage, "--registry-map"},
		{[]string{"--no-push", "--registry-certificate", "reg"}, exitUsage, "--registry-certificate"},
		{[]string{"--no-push", "--registry-client-cert", "reg="}, exitUsage, "--registry-client-cert"},
		{[]string{"--no-push", "--image-format=v1"}, exitUsage, "--image-format=v1"},
		{[]string{"--no-push", "--build-args-json=A=1"}, exitUsage, "--build-args-json"},
		{[]string{"--no-push", "--verbosity=loud"}, exitUsage, "--verbosity=loud"},
		{[]string{"--no-push", "--context", t.TempDir(), "--custom-platform=linux"}, exitBuild, "--custom-platform=linux"},
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
	if err := f.finish(); err != nil {
		t.Fatal(err)
	}
	o := f.opt
	if o.Output.TarPath != "/out.tar" || o.Build.Platform != "linux/arm64" || o.Root.IgnoreVarRun || !o.Output.NoPush || o.Root.KanikoDir != "/kaniko-elsewhere" {
		t.Errorf("tar %q platform %q ignore-var-run %v no-push %v kaniko-dir %q",
			o.Output.TarPath, o.Build.Platform, o.Root.IgnoreVarRun, o.Output.NoPush, o.Root.KanikoDir)
	}
	if want := []string{"m0", "env-mirror"}; !reflect.DeepEqual(o.Registry.Mirrors, want) {
		t.Errorf("mirrors %q, want %q", o.Registry.Mirrors, want)
	}
	want := map[string][]string{"index.docker.io": {"m1", "m2"}, "gcr.io": {"g1"}, "quay.io": {"q1"}}
	if !reflect.DeepEqual(o.Registry.Map, want) {
		t.Errorf("registry map %v, want %v", o.Registry.Map, want)
	}
	t.Setenv("KANIKO_NO_PUSH", "maybe")
	var bad flags
	if err := newFlagSet(&bad).Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := bad.finish(); err == nil || !strings.Contains(err.Error(), "KANIKO_NO_PUSH") {
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

// With --log-format=json every line is a JSON object: the steps' start
// and end events, the final digest, and a failure too.
func TestJSONLogIsJSONLineByLine(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\nENV A=1\n",
		"bad":        "FROM scratch\nCOPY missing /x\n",
		"a.txt":      "a",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	events := func(t *testing.T, out string) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("not a JSON object: %q", line)
			}
			ev, _ := rec["event"].(string)
			seen[ev]++
		}
		return seen
	}
	base := []string{"--no-push", "--context", dir, "--log-format=json", "--tar-path", filepath.Join(t.TempDir(), "img.tar")}
	var stderr bytes.Buffer
	if code := Main(context.Background(), base, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	seen := events(t, stderr.String())
	for ev, n := range map[string]int{"stage.start": 1, "stage": 1, "step.start": 2, "step": 2, "built": 1} {
		if seen[ev] != n {
			t.Errorf("%d %q events, want %d:\n%s", seen[ev], ev, n, stderr.String())
		}
	}
	stderr.Reset()
	if code := Main(context.Background(), append(base, "--dockerfile", filepath.Join(dir, "bad")), &stderr); code != exitBuild {
		t.Fatalf("exit %d, want %d:\n%s", code, exitBuild, stderr.String())
	}
	if seen := events(t, stderr.String()); seen["error"] != 1 {
		t.Errorf("no error event:\n%s", stderr.String())
	}
}

// Text logs are the progress lines, with --log-timestamp each after the time.
func TestTextLogTimestamps(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nENV A=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--no-push", "--context", dir, "--log-timestamp"}, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		ts, _, _ := strings.Cut(line, " ")
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("line without a time: %q", line)
		}
	}
	if !strings.Contains(stderr.String(), " [0 1/1] STEP 1/1: ENV A=1 (") {
		t.Errorf("no step line:\n%s", stderr.String())
	}
}

// kanikoFlags are the flags of Kaniko's executor (v1.24, cmd/executor/cmd/root.go).
var kanikoFlags = []string{
	"verbosity", "log-format", "log-timestamp", "force", "whitelist-var-run", "dockerfile", "context",
	"context-sub-path", "bucket", "destination", "snapshot-mode", "custom-platform", "build-arg", "insecure",
	"skip-tls-verify", "insecure-pull", "skip-tls-verify-pull", "push-retry", "push-ignore-immutable-tag-errors",
	"image-fs-extract-retry", "image-download-retry", "kaniko-dir", "tar-path", "single-snapshot", "reproducible",
	"target", "no-push", "no-push-cache", "cache-repo", "cache-dir", "digest-file", "image-name-with-digest-file",
	"image-name-tag-with-digest-file", "oci-layout-path", "compression", "compression-level", "cache",
	"compressed-caching", "cleanup", "cache-ttl", "insecure-registry", "skip-tls-verify-registry",
	"registry-certificate", "registry-client-cert", "registry-map", "registry-mirror",
	"skip-default-registry-fallback", "ignore-var-run", "label", "skip-unused-stages", "use-new-run",
	"cache-copy-layers", "cache-run-layers", "ignore-path", "force-build-metadata", "skip-push-permission-check",
	"snapshotMode", "customPlatform", "tarPath",
}

// kanikoEnv are the environment variables Kaniko's executor reads.
var kanikoEnv = []string{
	"DOCKER_CONFIG", "GIT_USERNAME", "GIT_PASSWORD", "GIT_TOKEN", "GIT_PULL_METHOD", "S3_ENDPOINT",
	"S3_FORCE_PATH_STYLE", "AZURE_STORAGE_ACCESS_KEY", "KANIKO_DIR", "KANIKO_NO_PUSH", "KANIKO_REGISTRY_MIRROR",
	"KANIKO_REGISTRY_MAP", "BENCHMARK_FILE", "UPSTREAM_CLIENT_TYPE", "BUILDER_OUTPUT",
}

// Every Kaniko flag is accepted, and the README's "Differences from
// Kaniko" names every flag and environment variable.
func TestEveryKanikoFlagAcceptedAndInTheDifferencesTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "## Differences from Kaniko")
	if !ok {
		t.Fatal("README.md has no Differences from Kaniko section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	var f flags
	fs := newFlagSet(&f)
	for _, name := range kanikoFlags {
		if fs.Lookup(name) == nil && fs.Lookup(renamedFlags[name]) == nil {
			t.Errorf("--%s is not accepted", name)
		}
		if !strings.Contains(table, "`--"+name+"`") && !strings.Contains(table, "--"+name+"`") {
			t.Errorf("--%s is not in the differences table", name)
		}
	}
	for _, name := range kanikoEnv {
		if !strings.Contains(table, "`"+name+"`") {
			t.Errorf("$%s is not in the differences table", name)
		}
	}
}

// --bucket is Kaniko's: it replaces an empty or URL --context, a bare name
// being a Google Cloud Storage bucket; a directory --context wins.
func TestBucketAsKaniko(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bucket", "b", "--context", ""}, "gs://b"},
		{[]string{"--bucket", "s3://b/ctx.tar.gz", "--context", "gs://x/y.tar.gz"}, "s3://b/ctx.tar.gz"},
		{[]string{"--bucket", "b"}, "/workspace/"},
		{[]string{"-b", "b", "-c", "/src"}, "/src"},
	} {
		var f flags
		if err := newFlagSet(&f).Parse(append(tc.args, "--no-push")); err != nil {
			t.Fatal(err)
		}
		if err := f.finish(); err != nil {
			t.Fatal(err)
		}
		if got := f.opt.Context.Source; got != tc.want {
			t.Errorf("%q: context %q, want %q", tc.args, got, tc.want)
		}
	}
}

// A destination that cannot be reached fails the run, naming the cause: a
// name that does not resolve at once, with no retry; a closed port after
// each retry asked for, each logged.
func TestUnreachableDestination(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY Dockerfile /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		dest, cause string
		retries     int
	}{
		{"no-such-registry.invalid/app:1", "no such host", 0},
		// ggcr tries https and http at once on 127.0.0.1: two requests,
		// each retried twice.
		{closed + "/app:1", "connection refused", 4},
	} {
		var stderr bytes.Buffer
		args := []string{"--context", dir, "--destination", tc.dest, "--push-retry", "2", "--tar-path", filepath.Join(dir, "image.tar")}
		if code := Main(context.Background(), args, &stderr); code != exitBuild {
			t.Errorf("%s: exit %d, want %d\n%s", tc.dest, code, exitBuild, stderr.String())
		}
		out := stderr.String()
		if !strings.Contains(out, "error: ") || !strings.Contains(out, tc.dest) || !strings.Contains(out, tc.cause) {
			t.Errorf("%s: the error does not name the destination and %q:\n%s", tc.dest, tc.cause, out)
		}
		if n := strings.Count(out, "retrying in"); n != tc.retries {
			t.Errorf("%s: %d retries, want %d:\n%s", tc.dest, n, tc.retries, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "image.tar")); !os.IsNotExist(err) {
			t.Errorf("%s: a failed push left --tar-path written (%v)", tc.dest, err)
		}
	}
}

// copy-credentials copies a docker config, plain or a Secret's symlinked
// key, to a directory of its own, 0600; with no source it copies nothing.
func TestCopyCredentials(t *testing.T) {
	from, to := t.TempDir(), filepath.Join(t.TempDir(), "creds")
	data := filepath.Join(from, "..data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, ".dockerconfigjson"), []byte(`{"auths":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/.dockerconfigjson", filepath.Join(from, ".dockerconfigjson")); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"copy-credentials", from, to}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	fi, err := os.Lstat(filepath.Join(to, ".dockerconfigjson"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("copied: %v %v, want a 0600 file", fi, err)
	}
	if _, err := os.Stat(filepath.Join(to, "config.json")); !os.IsNotExist(err) {
		t.Errorf("config.json made from nothing (%v)", err)
	}
	// An unbound workspace: an empty path, nothing to copy.
	empty := filepath.Join(t.TempDir(), "none")
	if code := Main(context.Background(), []string{"copy-credentials", "", empty}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("from nothing: %v %v", entries, err)
	}
	if code := Main(context.Background(), []string{"copy-credentials", from}, &stderr); code != exitUsage {
		t.Errorf("one argument: exit %d, want %d", code, exitUsage)
	}
}

// The executor exits as soon as the image is written: a detached copy of
// it deletes the scratch afterwards, leaving nothing behind.
func TestScratchRemovedAfterExit(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "executor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctxDir, tmp := t.TempDir(), t.TempDir()
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n"}
	for i := range 2000 {
		files[fmt.Sprintf("d/f%d", i)] = fmt.Sprint(i)
	}
	for p, body := range files {
		if err := os.MkdirAll(filepath.Join(ctxDir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--context", ctxDir, "--dockerfile", filepath.Join(ctxDir, "Dockerfile"), "--no-push")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("executor: %v\n%s", err, out)
	}
	left := func() []string {
		ents, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	for _, n := range left() {
		if !strings.HasPrefix(n, "trash-") {
			t.Errorf("the scratch %s is still in place after the exit", n)
		}
	}
	// The remover runs on: wait for it to exit, then nothing is left.
	for _, pid := range removersOf(t, tmp) {
		waitExit(t, pid)
	}
	if l := left(); len(l) > 0 {
		t.Errorf("after the remover exited, %v is still there", l)
	}
}

// removersOf finds the scratch removers working in dir.
func removersOf(t *testing.T, dir string) []int {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		if err == nil && len(args) > 1 && args[0] == "kaniko-build-remove-scratch" && strings.HasPrefix(args[1], dir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitExit waits, on a pidfd, for the process pid (not our child) to exit.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // gone already
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(time.Minute/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("the remover %d still runs a minute after the exit", pid)
		}
		return
	}
}

// `executor index` joins two platforms' images into one index under the
// destination and writes the digest file; two images of one platform
// fail naming both, and tag nothing.
func TestIndexSubcommand(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push := func(arch string) string {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := img.ConfigFile()
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		ref := host + "/app@" + d.String()
		r, _ := name.ParseReference(ref)
		if err := ggcrremote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	amd, arm, amd2 := push("amd64"), push("arm64"), push("amd64")
	digestFile := filepath.Join(t.TempDir(), "digest")
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"index", "--image", amd, "--image", arm,
		"--destination", host + "/app:multi", "--digest-file", digestFile}, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	r, _ := name.ParseReference(host + "/app:multi")
	idx, err := ggcrremote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if b, _ := os.ReadFile(digestFile); string(b) != d.String() {
		t.Errorf("digest file %q, want %s", b, d)
	}

	// Tekton passes an array after a lone --, Argo a JSON list: the same
	// images, in the same order, give the same index.
	for _, args := range [][]string{
		{"--destination", host + "/app:dash", "--", amd, "", arm},
		{"--destination", host + "/app:json", "--images-json", `["` + amd + `","` + arm + `"]`},
		{"--destination", host + "/app:mixed", "--image", amd, "--extra-args-json", `["--images-json=[\"` + arm + `\"]"]`},
	} {
		stderr.Reset()
		if code := Main(context.Background(), append([]string{"index"}, args...), &stderr); code != 0 {
			t.Fatalf("%q: exit %d\n%s", args, code, stderr.String())
		}
		r, _ := name.ParseReference(args[1])
		got, err := ggcrremote.Index(r)
		if err != nil {
			t.Fatal(err)
		}
		if gd, _ := got.Digest(); gd != d {
			t.Errorf("%q: index %s, want %s as with --image", args, gd, d)
		}
	}
	stderr.Reset()
	if code := Main(context.Background(), []string{"index", "--destination", host + "/app:stray", amd}, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "unexpected arguments") {
		t.Errorf("an image without --image or --: exit %d\n%s", code, stderr.String())
	}

	stderr.Reset()
	code := Main(context.Background(), []string{"index", "--image", amd, "--image", amd2, "--destination", host + "/app:bad"}, &stderr)
	if code != exitBuild || !strings.Contains(stderr.String(), "linux/amd64 is already in the index, from --image "+amd) {
		t.Errorf("one platform twice: exit %d\n%s", code, stderr.String())
	}
	bad, _ := name.ParseReference(host + "/app:bad")
	if _, err := ggcrremote.Head(bad); err == nil {
		t.Error("a failed join tagged app:bad")
	}
}
