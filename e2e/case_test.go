//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
)

// Case is a test case's case.json. Every field is optional.
type Case struct {
	// Note says what the case is about; for readers only.
	Note string `json:"note,omitempty"`
	// BuildArgs are passed as --build-arg to both builders: "K=V", or "K"
	// to take the value from the environment (see Env).
	BuildArgs []string `json:"buildArgs,omitempty"`
	// Env is added to both builders' environment.
	Env map[string]string `json:"env,omitempty"`
	// Target is the stage to build.
	Target string `json:"target,omitempty"`
	// Dockerfile is the Dockerfile's path in the context; default
	// "Dockerfile".
	Dockerfile string `json:"dockerfile,omitempty"`
	// Legacy, default true, says docker's legacy builder can build the
	// case, so ours is compared with docker's. When false only ours is
	// built and Expect must say what it has to look like.
	Legacy *bool `json:"legacy,omitempty"`
	// BuildKit, with Legacy, compares ours with BuildKit's image too: for
	// behaviour both references share and ours must match exactly.
	BuildKit bool `json:"buildkit,omitempty"`
	// Platform is the platform to build for: --custom-platform for our
	// executor, --platform for docker, platform= for BuildKit.
	Platform string `json:"platform,omitempty"`
	// Secrets maps secret ids to files of the case directory (usually
	// "_name", so they are not part of the context); passed to our
	// executor as --secret id=ID,src=FILE.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Prepare makes what git cannot keep (hard links, empty directories,
	// special modes, big files, tarballs) in the context before building.
	Prepare []PrepareOp `json:"prepare,omitempty"`
	// IgnorePaths and IgnoreConfig are left out of the comparison with
	// docker: where the legacy builder is known to differ from BuildKit,
	// whom we follow. Expect should then state BuildKit's result. Paths
	// are path.Match patterns; "/dir/**" is /dir and all under it.
	IgnorePaths  []string `json:"ignorePaths,omitempty"`
	IgnoreConfig []string `json:"ignoreConfig,omitempty"`
	// IgnoreModTimes are path patterns, as IgnorePaths, whose modification
	// times differ inherently; IgnoreHistory leaves out created_by, where
	// the reference spells an instruction differently.
	IgnoreModTimes []string `json:"ignoreModTimes,omitempty"`
	IgnoreHistory  bool     `json:"ignoreHistory,omitempty"`
	// Expect is checked on our image, and on docker's too (less the
	// ignored paths and keys) when Legacy is true.
	Expect *imagecmp.Expect `json:"expect,omitempty"`
	// ExecutorArgs and DockerArgs are extra flags for one builder only.
	ExecutorArgs []string `json:"executorArgs,omitempty"`
	DockerArgs   []string `json:"dockerArgs,omitempty"`

	// Error cases only (testdata/errors): substrings our executor's output
	// must contain, and whether docker's legacy builder must fail too
	// (default true; false for syntax it does not know).
	Error       []string `json:"error,omitempty"`
	DockerFails *bool    `json:"dockerFails,omitempty"`
	// ExitCode, when set, is our executor's exit code (Kaniko's: a failed
	// RUN's own code); any failure exit otherwise.
	ExitCode int `json:"exitCode,omitempty"`
}

// PrepareOp is one step of Case.Prepare, run in the context directory.
type PrepareOp struct {
	// Op is one of: mkdir, file, symlink, hardlink, chmod, tar.
	Op   string `json:"op"`
	Path string `json:"path"`
	// Target is what a symlink points to, or the existing file a hard
	// link names.
	Target string `json:"target,omitempty"`
	// Mode is octal; for mkdir, file and chmod.
	Mode string `json:"mode,omitempty"`
	// Content of a file; or, with Size, Size pseudo-random bytes from Seed.
	Content string `json:"content,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Seed    uint64 `json:"seed,omitempty"`
	// Gzip compresses a tar.
	Gzip bool `json:"gzip,omitempty"`
	// Entries are a tar's members.
	Entries []TarEntry `json:"entries,omitempty"`
}

// TarEntry is one member of a tarball made by PrepareOp "tar".
type TarEntry struct {
	Name string `json:"name"`
	// Type is file (default), dir, symlink or hardlink.
	Type    string `json:"type,omitempty"`
	Mode    string `json:"mode,omitempty"`
	UID     int    `json:"uid,omitempty"`
	GID     int    `json:"gid,omitempty"`
	Content string `json:"content,omitempty"`
	Target  string `json:"target,omitempty"`
}

func (c *Case) legacy() bool { return c.Legacy == nil || *c.Legacy }

func (c *Case) dockerFails() bool { return c.DockerFails == nil || *c.DockerFails }

func (c *Case) dockerfile() string {
	if c.Dockerfile == "" {
		return "Dockerfile"
	}
	return filepath.FromSlash(c.Dockerfile)
}

func (c *Case) ignore() imagecmp.Ignore {
	return imagecmp.Ignore{Paths: c.IgnorePaths, Config: c.IgnoreConfig, ModTimes: c.IgnoreModTimes, History: c.IgnoreHistory}
}

// loadCase reads dir/case.json; a missing file is an empty case.
func loadCase(dir string) (*Case, error) {
	c := &Case{}
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading case.json: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", filepath.Join(dir, "case.json"), err)
	}
	return c, nil
}

// listCases returns the case directories under root, sorted by name.
func listCases(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("listing cases: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

var placeholder = regexp.MustCompile(`\{\{\s*([a-z][a-z0-9_]*)\s*\}\}`)

// isTemplate tells which context files get their {{placeholders}}
// replaced: the case's Dockerfile, any file named like a Dockerfile, and
// ignore files.
func (c *Case) isTemplate(rel string) bool {
	name := filepath.Base(rel)
	return rel == c.dockerfile() || strings.Contains(name, "Dockerfile") || strings.HasSuffix(name, ".dockerignore")
}

// expand replaces {{name}} by vars[name]; an unknown name is an error.
func expand(text string, vars map[string]string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(text, func(m string) string {
		n := placeholder.FindStringSubmatch(m)[1]
		v, ok := vars[n]
		if !ok {
			missing = append(missing, n)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown placeholders %v (known: %v)", missing, sortedNames(vars))
	}
	return out, nil
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// makeContext copies the case directory src into dst, the build context:
// case.json and top-level names starting with "_" stay out, Dockerfiles
// get their placeholders replaced, modes are normalized (0755 for
// directories and executables, 0644 for other files) so that the
// checkout's umask does not matter, and then c.Prepare runs.
func makeContext(src, dst string, c *Case, vars map[string]string) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return os.MkdirAll(dst, 0o755)
		}
		top := strings.Split(rel, string(filepath.Separator))[0]
		if rel == "case.json" || strings.HasPrefix(top, "_") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.IsDir():
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, 0o755)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if c.isTemplate(rel) {
				s, err := expand(string(data), vars)
				if err != nil {
					return fmt.Errorf("expanding %s: %w", rel, err)
				}
				data = []byte(s)
			}
			mode := os.FileMode(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			if err := os.WriteFile(target, data, mode); err != nil {
				return err
			}
			return os.Chmod(target, mode)
		default:
			return fmt.Errorf("%s: unsupported file type %v", rel, info.Mode().Type())
		}
	})
	if err != nil {
		return fmt.Errorf("copying case %s: %w", src, err)
	}
	for i, op := range c.Prepare {
		if err := op.apply(dst); err != nil {
			return fmt.Errorf("prepare step %d (%s %s): %w", i, op.Op, op.Path, err)
		}
	}
	return pinTimes(dst, caseEpoch(filepath.Base(src)))
}

// caseEpoch is the time a case's context is pinned to: baseimage.Epoch
// plus up to about four months, by the case's name. Each case has a time
// of its own, so that a builder that keeps an earlier context (buildkitd)
// and skips files of the same size and mtime cannot take another case's.
func caseEpoch(name string) time.Time {
	h := fnv.New32a()
	h.Write([]byte(name))
	return baseimage.Epoch().Add(time.Duration(h.Sum32()%10_000_000) * time.Second)
}

// pinTimes sets every path under dir to t: a case's copies (one per test)
// then give the same bytes where a build records a source's mtime, as
// Python's .pyc files do.
func pinTimes(dir string, at time.Time) error {
	t := unix.NsecToTimespec(at.UnixNano())
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("setting the times of %s: %w", p, err)
		}
		return nil
	})
}

func parseMode(s string, def os.FileMode) (os.FileMode, error) {
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("parsing mode %q: %w", s, err)
	}
	mode := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode, nil
}

func (op PrepareOp) apply(root string) error {
	if op.Path == "" || strings.Contains(op.Path, "..") {
		return fmt.Errorf("bad path %q", op.Path)
	}
	p := filepath.Join(root, filepath.FromSlash(op.Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	switch op.Op {
	case "mkdir":
		mode, err := parseMode(op.Mode, 0o755)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(p, mode); err != nil {
			return err
		}
		return os.Chmod(p, mode)
	case "file":
		mode, err := parseMode(op.Mode, 0o644)
		if err != nil {
			return err
		}
		data := []byte(op.Content)
		if op.Size > 0 {
			data = make([]byte, op.Size)
			r := rand.New(rand.NewPCG(op.Seed, op.Seed^0x9e3779b97f4a7c15))
			for i := range data {
				data[i] = byte(r.Uint32())
			}
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			return err
		}
		return os.Chmod(p, mode)
	case "symlink":
		return os.Symlink(op.Target, p)
	case "hardlink":
		return os.Link(filepath.Join(root, filepath.FromSlash(op.Target)), p)
	case "chmod":
		mode, err := parseMode(op.Mode, 0)
		if err != nil {
			return err
		}
		return os.Chmod(p, mode)
	case "tar":
		data, err := makeTar(op.Entries, op.Gzip)
		if err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o644)
	}
	return fmt.Errorf("unknown op %q", op.Op)
}

// makeTar writes entries as a tarball with a fixed modification time.
func makeTar(entries []TarEntry, gz bool) ([]byte, error) {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.Name,
			Uid:     e.UID,
			Gid:     e.GID,
			ModTime: time.Unix(1577836800, 0),
			Format:  tar.FormatPAX,
		}
		def := "0644"
		switch e.Type {
		case "", "file":
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Content))
		case "dir":
			h.Typeflag, def = tar.TypeDir, "0755"
		case "symlink":
			h.Typeflag, h.Linkname, def = tar.TypeSymlink, e.Target, "0777"
		case "hardlink":
			h.Typeflag, h.Linkname = tar.TypeLink, e.Target
		default:
			return nil, fmt.Errorf("tar entry %s: unknown type %q", e.Name, e.Type)
		}
		if e.Mode != "" {
			def = e.Mode
		}
		m, err := strconv.ParseInt(def, 8, 64)
		if err != nil {
			return nil, fmt.Errorf("tar entry %s: parsing mode: %w", e.Name, err)
		}
		h.Mode = m
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar entry %s: %w", e.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.Content); err != nil {
				return nil, fmt.Errorf("tar entry %s: %w", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
