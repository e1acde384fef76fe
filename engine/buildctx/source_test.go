package buildctx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func TestParseGitOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want GitOptions
		err  string // in the error when set
	}{
		{in: "", want: GitOptions{}},
		{in: "branch=main", want: GitOptions{Branch: "main"}},
		{in: "branch=", want: GitOptions{}},
		{in: "branch=feature/x=y", want: GitOptions{Branch: "feature/x=y"}},
		{in: "single-branch=true", want: GitOptions{SingleBranch: true}},
		{in: "recurse-submodules=1", want: GitOptions{RecurseSubmodules: true}},
		{in: "insecure-skip-tls=TRUE", want: GitOptions{InsecureSkipTLS: true}},
		{
			in:   "branch=dev,single-branch=true,recurse-submodules=true,insecure-skip-tls=true",
			want: GitOptions{Branch: "dev", SingleBranch: true, RecurseSubmodules: true, InsecureSkipTLS: true},
		},
		{in: "single-branch=true,single-branch=false", want: GitOptions{}},
		{in: "single-branch=yes", err: `--git single-branch: "yes" is not true or false`},
		{in: "single-branch", err: `--git single-branch: "" is not true or false`},
		{in: "recurse-submodules=maybe", err: `--git recurse-submodules: "maybe" is not true or false`},
		{in: "branch=main,insecure-skip-tls=2", err: `--git insecure-skip-tls: "2" is not true or false`},
		{in: "depth=1", err: `--git: unknown option "depth"`},
		{in: "branch=main,", err: `--git: unknown option ""`},
		{in: "Branch=main", err: `--git: unknown option "Branch"`},
	} {
		got, err := ParseGitOptions(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseGitOptions(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseGitOptions(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestSubPath(t *testing.T) {
	base := t.TempDir()
	ctx := filepath.Join(base, "ctx")
	writeFiles(t, base, map[string]string{
		"ctx/sub/deeper/":    "",
		"ctx/file":           "",
		"outside/":           "",
		"ctx-sibling/":       "",
		"outside/deeper/x":   "",
		"ctx/sub/deeper/f.x": "",
	})
	for _, l := range []struct{ name, target string }{
		{"ctx/alias", "sub"},
		{"ctx/up", "../outside"},
		{"ctx/abs", filepath.Join(base, "outside")},
		{"ctx/sub/back", "../../outside/deeper"},
		{"ctx/root", "/"},
	} {
		if err := os.Symlink(l.target, filepath.Join(base, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		sub  string
		want string // "" for an error
	}{
		{"", ctx},
		{"sub", filepath.Join(ctx, "sub")},
		{"sub/deeper/", filepath.Join(ctx, "sub/deeper")},
		{"./sub/../sub/deeper", filepath.Join(ctx, "sub/deeper")},
		{"/sub", filepath.Join(ctx, "sub")},
		{".", ctx},
		{"alias", filepath.Join(ctx, "sub")},
		{"alias/deeper", filepath.Join(ctx, "sub/deeper")},
		{"root/sub", filepath.Join(ctx, "sub")},
		// Gone from the context: refused.
		{"missing", ""},
		{"file", ""},
		{"sub/deeper/f.x", ""},
		// Ways out, each naming a directory that exists outside.
		{"../outside", ""},
		{"../../" + filepath.Base(base) + "/outside", ""},
		{"../ctx-sibling", ""},
		{"up", ""},
		{"abs", ""},
		{"sub/back", ""},
		{"up/deeper", ""},
	} {
		got, err := SubPath(ctx, tc.sub)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("SubPath(%q) = %s, want an error", tc.sub, got)
		case tc.want == "" && !strings.Contains(err.Error(), "not a directory in the context"):
			t.Errorf("SubPath(%q): error %q does not say why", tc.sub, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("SubPath(%q) = %s, %v; want %s", tc.sub, got, err, tc.want)
		}
	}

	// A relative context stays relative.
	t.Chdir(base)
	if got, err := SubPath("ctx", "sub/deeper"); err != nil || got != filepath.Join("ctx", "sub", "deeper") {
		t.Errorf("SubPath(ctx, sub/deeper) = %s, %v; want ctx/sub/deeper", got, err)
	}
	if got, err := SubPath("ctx", "../outside"); err == nil {
		t.Errorf("SubPath(ctx, ../outside) = %s, want an error", got)
	}
}

func TestFetchDirectory(t *testing.T) {
	tmp := t.TempDir()
	for _, tc := range []struct{ src, want string }{
		{"/some/where", "/some/where"},
		{"dir:///some/where", "/some/where"},
		{"relative/ctx", "relative/ctx"},
		{"dir://relative/ctx", "relative/ctx"},
		{".", "."},
	} {
		got, err := Fetch(context.Background(), tc.src, FetchOptions{TempDir: tmp})
		if err != nil || got != tc.want {
			t.Errorf("Fetch(%q) = %s, %v; want %s", tc.src, got, err, tc.want)
		}
	}
	// A directory is used where it is: nothing is copied.
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("Fetch of directories wrote %d entries to the temp dir", len(ents))
	}
}

// entry is a tar entry for a test context.
type entry struct {
	name, body, link string
	typ              byte // tar.TypeReg when 0
	mode             int64
}

func makeTar(t *testing.T, ents []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t *testing.T, kind string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch kind {
	case "":
		return b
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	default:
		t.Fatalf("unknown compression %s", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// contextEntries is a context with a Dockerfile, a nested file, an
// executable, an empty directory and a symlink.
var contextEntries = []entry{
	{name: "Dockerfile", body: "FROM scratch\nCOPY . /\n"},
	{name: "src/", typ: tar.TypeDir},
	{name: "src/main.go", body: "package main\n"},
	{name: "run.sh", body: "#!/bin/sh\n", mode: 0o755},
	{name: "empty/", typ: tar.TypeDir},
	{name: "link", typ: tar.TypeSymlink, link: "src/main.go"},
}

// checkContext checks dir holds contextEntries, in a new directory under
// tmp.
func checkContext(t *testing.T, dir, tmp string) {
	t.Helper()
	if filepath.Dir(dir) != tmp || !strings.HasPrefix(filepath.Base(dir), "context-") {
		t.Errorf("context unpacked to %s, want a context-* directory in %s", dir, tmp)
	}
	for name, want := range map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n", "src/main.go": "package main\n", "run.sh": "#!/bin/sh\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("run.sh: %v, %v; want mode 0755", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty: %v, %v; want a directory", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "link")); err != nil || target != "src/main.go" {
		t.Errorf("link -> %q, %v; want src/main.go", target, err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 5 {
		t.Errorf("context has %d entries (%v), want 5", len(ents), err)
	}
}

func TestFetchTar(t *testing.T) {
	raw := makeTar(t, contextEntries)
	for _, kind := range []string{"", "gzip", "zstd", "xz"} {
		name := "ctx.tar"
		if kind != "" {
			name += "." + kind
		}
		data := compress(t, kind, raw)
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			p := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			dir, err := Fetch(context.Background(), "tar://"+p, FetchOptions{TempDir: tmp})
			if err != nil {
				t.Fatal(err)
			}
			checkContext(t, dir, tmp)
		})
		t.Run(name+" on stdin", func(t *testing.T) {
			tmp := t.TempDir()
			dir, err := Fetch(context.Background(), "tar://stdin", FetchOptions{TempDir: tmp, Stdin: bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
			checkContext(t, dir, tmp)
		})
	}
}

func TestFetchTarErrors(t *testing.T) {
	good := compress(t, "gzip", makeTar(t, contextEntries))
	for _, tc := range []struct {
		name  string
		src   string
		stdin []byte // nil: no standard input
		want  string
	}{
		{"no stdin", "tar://stdin", nil, "tar://stdin: no standard input"},
		{"missing file", "tar:///no/such/ctx.tar.gz", nil, "opening context tar:///no/such/ctx.tar.gz"},
		{"truncated gzip", "tar://stdin", good[:len(good)/2], "tar://stdin"},
		{"corrupt gzip header", "tar://stdin", append([]byte{0x1f, 0x8b, 0xff}, good[3:]...), "reading context tar://stdin"},
		{"not a tar", "tar://stdin", bytes.Repeat([]byte("not a tar archive\n"), 100), "unpacking context tar://stdin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := FetchOptions{TempDir: t.TempDir()}
			if tc.stdin != nil {
				opt.Stdin = bytes.NewReader(tc.stdin)
			}
			dir, err := Fetch(context.Background(), tc.src, opt)
			if err == nil {
				t.Fatalf("Fetch(%s) = %s, want an error", tc.src, dir)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// tree lists the paths under root, with a file's content.
func tree(t *testing.T, root string, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Hostile contexts write nothing outside the directory they are unpacked
// to: every entry lands inside it, as if the directory were "/", or, when
// its name climbs with "..", is refused.
func TestFetchTarStaysInside(t *testing.T) {
	for _, tc := range []struct {
		name string
		// ents may use @OUT@ for the absolute path of a directory outside.
		ents []entry
		// inside is where the "evil" file is expected, relative to the
		// context ("" when the fetch fails); @OUT@ is replaced too.
		inside string
	}{
		{"dot-dot entry", []entry{{name: "../evil", body: "x"}}, ""},
		{"many dot-dots", []entry{{name: "../../../../../../evil", body: "x"}}, ""},
		{"dot-dot inside a path", []entry{{name: "a/../../evil", body: "x"}}, ""},
		{"absolute entry", []entry{{name: "@OUT@/evil", body: "x"}}, "@OUT@/evil"},
		{"dot-dot directory", []entry{{name: "../d/", typ: tar.TypeDir}, {name: "../d/evil", body: "x"}}, ""},
		{
			"relative symlink out, file through it",
			[]entry{{name: "out", typ: tar.TypeSymlink, link: "../outside"}, {name: "out/evil", body: "x"}},
			"outside/evil",
		},
		{
			"absolute symlink out, file through it",
			[]entry{{name: "out", typ: tar.TypeSymlink, link: "@OUT@"}, {name: "out/evil", body: "x"}},
			"@OUT@/evil",
		},
		{
			"symlink to .., nested",
			[]entry{{name: "up", typ: tar.TypeSymlink, link: ".."}, {name: "up/up/up/evil", body: "x"}},
			"evil",
		},
		{
			"symlink in a directory, file through it",
			[]entry{{name: "d/", typ: tar.TypeDir}, {name: "d/out", typ: tar.TypeSymlink, link: "../../outside"}, {name: "d/out/evil", body: "x"}},
			"outside/evil",
		},
		{
			"symlink to a file outside, then a file of its name",
			[]entry{{name: "evil", typ: tar.TypeSymlink, link: "@OUT@/canary"}, {name: "evil", body: "x"}},
			"evil",
		},
		{
			"symlink directory out, then a directory over it",
			[]entry{{name: "d", typ: tar.TypeSymlink, link: "@OUT@"}, {name: "d/", typ: tar.TypeDir}, {name: "d/evil", body: "x"}},
			"d/evil",
		},
		{
			"hard link to a file outside",
			[]entry{{name: "evil", typ: tar.TypeLink, link: "../outside/canary"}},
			"",
		},
		{
			"hard link to an absolute path outside",
			[]entry{{name: "evil", typ: tar.TypeLink, link: "@OUT@/canary"}},
			"",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			out := filepath.Join(base, "outside")
			tmp := filepath.Join(base, "tmp")
			writeFiles(t, base, map[string]string{"outside/canary": "canary", "tmp/": ""})
			ents := slices.Clone(tc.ents)
			for i := range ents {
				ents[i].name = strings.ReplaceAll(ents[i].name, "@OUT@", out)
				ents[i].link = strings.ReplaceAll(ents[i].link, "@OUT@", out)
			}
			before := tree(t, base, tmp)
			dir, err := Fetch(context.Background(), "tar://stdin", FetchOptions{
				TempDir: tmp, Stdin: bytes.NewReader(compress(t, "gzip", makeTar(t, ents))),
			})
			if after := tree(t, base, tmp); !reflect.DeepEqual(before, after) {
				t.Errorf("outside the temp dir, before: %v\nafter: %v", before, after)
			}
			if fi, err := os.Lstat(filepath.Join(out, "canary")); err != nil || fi.Mode()&fs.ModeType != 0 {
				t.Errorf("outside/canary is no longer a plain file: %v, %v", fi, err)
			} else if st, ok := fi.Sys().(interface{ Nlink() uint64 }); ok && st.Nlink() != 1 {
				t.Errorf("outside/canary was linked to")
			}
			if tc.inside == "" {
				if err == nil {
					t.Errorf("Fetch = %s, want an error", dir)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, strings.ReplaceAll(tc.inside, "@OUT@", out))
			if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s: %v, %v; want the entry there, a file", p, fi, err)
			}
		})
	}
}

func TestFetchHTTP(t *testing.T) {
	tgz := compress(t, "gzip", makeTar(t, contextEntries))
	mux := http.NewServeMux()
	mux.HandleFunc("/ctx.tar.gz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Write(tgz)
	})
	mux.HandleFunc("/ctx.tar", func(w http.ResponseWriter, r *http.Request) { w.Write(makeTar(t, contextEntries)) })
	mux.HandleFunc("/broken.tar.gz", func(w http.ResponseWriter, r *http.Request) { w.Write(tgz[:len(tgz)-40]) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()

	fetch := func(src string) (string, string, error) {
		tmp := t.TempDir()
		dir, err := Fetch(context.Background(), src, FetchOptions{TempDir: tmp})
		return dir, tmp, err
	}
	for _, p := range []string{"/ctx.tar.gz", "/ctx.tar"} {
		dir, tmp, err := fetch(srv.URL + p)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", p, err)
		}
		checkContext(t, dir, tmp)
	}
	for _, tc := range []struct{ src, want string }{
		{srv.URL + "/missing.tar.gz", "404 Not Found"},
		{srv.URL + "/broken.tar.gz", "context " + srv.URL + "/broken.tar.gz"},
		// The server's certificate is its own: not trusted.
		{tlsSrv.URL + "/ctx.tar.gz", "certificate"},
		{"http://127.0.0.1:0/ctx.tar.gz", "fetching context http://127.0.0.1:0/ctx.tar.gz"},
		{"https://[::1/bad", "fetching context https://[::1/bad"},
	} {
		if dir, _, err := fetch(tc.src); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Fetch(%s) = %s, %v; want an error with %q", tc.src, dir, err, tc.want)
		}
	}

	// A cancelled build stops the download.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fetch(ctx, srv.URL+"/ctx.tar.gz", FetchOptions{TempDir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context: %v, want context.Canceled", err)
	}

	// https through the default client, once it trusts the server (as it
	// would trust a registry's certificate from the system pool).
	tr := http.DefaultClient.Transport
	http.DefaultClient.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	defer func() { http.DefaultClient.Transport = tr }()
	dir, tmp, err := fetch(tlsSrv.URL + "/ctx.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	checkContext(t, dir, tmp)
}
