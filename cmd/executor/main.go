// Command executor builds a Dockerfile into an image without a daemon. Its
// flags are Kaniko's, so pipelines can switch images without changes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/cmd/internal/logflags"
	"github.com/kaniko-build/kaniko-build/engine"
	"github.com/kaniko-build/kaniko-build/engine/rootfs"
	"github.com/kaniko-build/kaniko-build/engine/run"
)

// Exit codes.
const (
	exitBuild = 1 // the build failed (a failed RUN: its command's code)
	exitUsage = 2 // bad flags
)

func main() {
	run.Init()
	run.AwaitUserNamespace()
	rootfs.InitRemover()
	// As docker and BuildKit: files the build makes (directories COPY
	// creates, files RUN writes) get 0022, whatever the caller's umask.
	syscall.Umask(0o022)
	// Not dumpable: a RUN (root in the container, without CAP_SYS_PTRACE)
	// cannot read the executor's memory, environ or open files under
	// /proc, where the registry credentials and secrets are.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// flags are the command line: the engine's option groups, the logging
// flags and the executor's own.
type flags struct {
	opt    engine.Options
	log    logflags.Flags
	bucket string
}

// renamedFlags are Kaniko's deprecated spellings, still accepted there.
var renamedFlags = map[string]string{
	"tarPath":           "tar-path",
	"customPlatform":    "custom-platform",
	"snapshotMode":      "snapshot-mode",
	"whitelist-var-run": "ignore-var-run",
}

func newFlagSet(f *flags) *pflag.FlagSet {
	fs := pflag.NewFlagSet("executor", pflag.ContinueOnError)
	f.opt.AddFlags(fs)
	f.log.AddFlags(fs)
	// Expanded before parsing (expandExtraArgs); declared for --help.
	fs.String("extra-args-json", "", `more flags as a JSON list, e.g. ["--label=a=b"], expanded in place`)
	// Kaniko flags kept so that pipelines run unchanged; what they tuned
	// in Kaniko is what this builder always does, or does not apply.
	for _, name := range []string{"compressed-caching", "force-build-metadata",
		"single-snapshot", "skip-unused-stages", "use-new-run", "preserve-context", "materialize"} {
		fs.Bool(name, false, "accepted for Kaniko compatibility; this builder needs no such switch")
	}
	fs.String("snapshot-mode", "full", "accepted for Kaniko compatibility; snapshots always compare file metadata")
	fs.StringVarP(&f.bucket, "bucket", "b", "", "Kaniko's Google Cloud Storage bucket holding context.tar.gz, used when --context is empty or a URL (prefer --context gs://BUCKET/PATH)")
	_ = fs.MarkHidden("bucket")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if n, ok := renamedFlags[name]; ok {
			return pflag.NormalizedName(n)
		}
		return pflag.NormalizedName(name)
	})
	return fs
}

// finish checks and completes the flags after parsing.
func (f *flags) finish() error {
	// As Kaniko: --bucket replaces an empty or URL --context, and a name
	// without a scheme is a Google Cloud Storage bucket.
	if c := f.opt.Context.Source; f.bucket != "" && (c == "" || strings.Contains(c, "://")) {
		f.opt.Context.Source = f.bucket
		if !strings.Contains(f.bucket, "://") {
			f.opt.Context.Source = "gs://" + f.bucket
		}
	}
	return f.opt.Finish()
}

// version is the release, stamped with -ldflags "-X main.version=v1.2.3";
// without it, the module version Go recorded.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Main runs the executor with args and returns the exit code.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	// Kaniko's `executor version` subcommand, and the usual flag.
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(os.Stdout, "kaniko-build version: %s\n", versionString())
		return 0
	}
	if len(args) > 0 && args[0] == "copy-credentials" {
		return copyCredentials(args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "index" {
		return joinIndex(ctx, args[1:], stderr)
	}
	var f flags
	fs := newFlagSet(&f)
	fs.SetOutput(stderr)
	// Words after a lone "--" are build args (Tekton's BUILD_ARGS array).
	rest, code, done := parseArgs(fs, args, "build args", stderr)
	if done {
		return code
	}
	f.opt.Build.Args = append(f.opt.Build.Args, rest...)
	log, err := f.log.Logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if err := f.finish(); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	f.opt.Log = log
	// main calls rootfs.InitRemover; a test binary would not.
	f.opt.Root.RemoveInBackground = !testing.Testing()
	f.opt.Context.Stdin = os.Stdin
	f.opt.Context.GitPullMethod = os.Getenv("GIT_PULL_METHOD")
	// Installed as <kaniko-dir>/executor, as in our image, the build runs in
	// the container's own root; anywhere else it builds in a directory, as
	// it does without root, which cannot write "/".
	if exe, err := os.Executable(); err == nil && filepath.Dir(exe) == filepath.Clean(f.opt.Root.KanikoDir) {
		if os.Geteuid() == 0 && unix.Access("/", unix.W_OK) == nil {
			f.opt.Root.Dir = "/"
		}
		if os.Getenv("DOCKER_CONFIG") == "" {
			f.opt.Registry.DockerConfig = filepath.Join(f.opt.Root.KanikoDir, ".docker")
		}
	}
	if _, err := engine.Build(ctx, f.opt); err != nil {
		if code, ok := asRootInUserNamespace(ctx, err, &f, args, log); ok {
			return code
		}
		f.log.Fail(stderr, log, err)
		return buildExitCode(err)
	}
	return 0
}

// asRootInUserNamespace runs a build that needs root and has none again,
// as root in a user namespace of its own, as rootless BuildKit and Buildah
// do; ok is false when it cannot (the kernel or a seccomp profile allows
// no user namespace, or the context was stdin, read already).
func asRootInUserNamespace(ctx context.Context, err error, f *flags, args []string, log *slog.Logger) (code int, ok bool) {
	if !errors.Is(err, engine.ErrNeedsRoot) || os.Geteuid() == 0 || f.opt.Context.Source == "tar://stdin" {
		return 0, false
	}
	code, uerr := run.AsRootInUserNamespace(ctx, args, log)
	if uerr != nil {
		log.Warn("a RUN needs root, and a user namespace of its own is not allowed here", "err", uerr)
		return 0, false
	}
	return code, true
}

// parseArgs expands --extra-args-json and parses args into fs. It returns
// the words after a lone "--", which only what may follow one (the
// caller's list: build args, images) are, empties dropped; done is set,
// with the exit code, when it printed help or an error instead.
func parseArgs(fs *pflag.FlagSet, args []string, what string, stderr io.Writer) (rest []string, code int, done bool) {
	args, err := expandExtraArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return nil, exitUsage, true
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, 0, true
		}
		fmt.Fprintf(stderr, "error: %v\n", err)
		return nil, exitUsage, true
	}
	if fs.NArg() > 0 && fs.ArgsLenAtDash() != 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments %q (every option is a flag; %s may follow a lone --)\n", fs.Args(), what)
		return nil, exitUsage, true
	}
	return nonEmpty(fs.Args()), 0, false
}

// buildExitCode is a failed build's exit code: as Kaniko's, a RUN's
// command's own exit code when one failed the build, else 1.
func buildExitCode(err error) int {
	var ee *run.ExitError
	if errors.As(err, &ee) && ee.Code > 0 && ee.Code < 256 {
		return ee.Code
	}
	return exitBuild
}

// expandExtraArgs replaces --extra-args-json=[...] by the flags it lists,
// in place, so that Argo can pass a JSON list of flags as one argument.
func expandExtraArgs(args []string) ([]string, error) {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		v, ok := strings.CutPrefix(a, "--extra-args-json=")
		if !ok && a == "--extra-args-json" && i+1 < len(args) {
			v, ok = args[i+1], true
			i++
		}
		if !ok {
			out = append(out, a)
			continue
		}
		list, err := jsonList("--extra-args-json", v)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

// jsonList parses a JSON list of strings; "" and "[]" are empty.
func jsonList(flag, v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, fmt.Errorf("%s: want a JSON list of strings: %w", flag, err)
	}
	return list, nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
