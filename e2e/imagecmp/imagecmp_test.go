package imagecmp

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	pax              map[string]string
}

func layer(t *testing.T, ents ...ent) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, Size: int64(len(e.body)), PAXRecords: e.pax, Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	tw.Close()
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t *testing.T, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.History = []v1.History{{CreatedBy: "RUN echo hello"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func flattenT(t *testing.T, img v1.Image) FS {
	t.Helper()
	fs, err := Flatten(img)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestFlattenAppliesWhiteouts(t *testing.T) {
	img := image(t, v1.Config{},
		layer(t,
			ent{name: "a/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "a/x", typ: tar.TypeReg, mode: 0o644, body: "x"},
			ent{name: "a/y", typ: tar.TypeReg, mode: 0o644, body: "y"},
			ent{name: "d/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "d/old", typ: tar.TypeReg, mode: 0o644, body: "old"},
		),
		layer(t,
			ent{name: "a/.wh.x", typ: tar.TypeReg},
			ent{name: "d/", typ: tar.TypeDir, mode: 0o700, uid: 5},
			ent{name: "d/.wh..wh..opq", typ: tar.TypeReg},
			ent{name: "d/new", typ: tar.TypeReg, mode: 0o4755, body: "new"},
		),
	)
	fs := flattenT(t, img)
	got := strings.Join(fs.Paths(), " ")
	if want := "/a /a/y /d /d/new"; got != want {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	if d := fs["/d"]; d.Mode != 0o700 || d.UID != 5 {
		t.Errorf("/d = %s, want mode 0700 owner 5", Describe(d))
	}
	if f := fs["/d/new"]; f.Mode != 0o4755 || string(f.Content) != "new" || f.Size != 3 {
		t.Errorf("/d/new = %s", Describe(f))
	}
}

func TestFlattenFollowsTheSpecForSameLayerWhiteouts(t *testing.T) {
	img := image(t, v1.Config{},
		layer(t,
			ent{name: "x/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "x/child", typ: tar.TypeReg, mode: 0o644, body: "c"},
			ent{name: "y/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "y/old", typ: tar.TypeReg, mode: 0o644, body: "o"},
			ent{name: "z/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "z/child", typ: tar.TypeReg, mode: 0o644, body: "c"},
		),
		layer(t,
			// a whiteout and a new entry at the same path, in either order
			ent{name: ".wh.x", typ: tar.TypeReg},
			ent{name: "x", typ: tar.TypeSymlink, link: "/tmp"},
			ent{name: "y/new", typ: tar.TypeReg, mode: 0o644, body: "n"},
			ent{name: "y/.wh..wh..opq", typ: tar.TypeReg},
			// a file over a directory, no whiteout: the children go too
			ent{name: "z", typ: tar.TypeReg, mode: 0o644, body: "file"},
		),
	)
	fs := flattenT(t, img)
	got := strings.Join(fs.Paths(), " ")
	if want := "/x /y /y/new /z"; got != want {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	if fs["/x"].Type != TypeSymlink || fs["/z"].Type != TypeFile {
		t.Errorf("/x = %s, /z = %s", Describe(fs["/x"]), Describe(fs["/z"]))
	}
	ext, err := FlattenExtract(img)
	if err != nil {
		t.Fatal(err)
	}
	d := DiffFS("spec", fs, "extract", ext, Ignore{})
	if len(d) != 1 || !strings.HasPrefix(d[0], "/x: ") {
		t.Errorf("want mutate.Extract to differ at /x only (it drops an entry after a same-layer whiteout), got:\n%s", strings.Join(d, "\n"))
	}
}

func TestHardlinkGroupsDoNotDependOnTarOrder(t *testing.T) {
	one := image(t, v1.Config{}, layer(t,
		ent{name: "a", typ: tar.TypeReg, mode: 0o644, body: "same"},
		ent{name: "b", typ: tar.TypeLink, link: "a"},
		ent{name: "c", typ: tar.TypeLink, link: "b"},
	))
	two := image(t, v1.Config{}, layer(t,
		ent{name: "c", typ: tar.TypeReg, mode: 0o644, body: "same"},
		ent{name: "a", typ: tar.TypeLink, link: "c"},
		ent{name: "b", typ: tar.TypeLink, link: "c"},
	))
	a, b := flattenT(t, one), flattenT(t, two)
	if d := DiffFS("one", a, "two", b, Ignore{}); len(d) != 0 {
		t.Errorf("unexpected differences:\n%s", strings.Join(d, "\n"))
	}
	if got := strings.Join(a["/b"].Links, ","); got != "/a,/c" {
		t.Errorf("/b links = %q, want /a,/c", got)
	}
	copied := image(t, v1.Config{}, layer(t,
		ent{name: "a", typ: tar.TypeReg, mode: 0o644, body: "same"},
		ent{name: "b", typ: tar.TypeReg, mode: 0o644, body: "same"},
		ent{name: "c", typ: tar.TypeReg, mode: 0o644, body: "same"},
	))
	d := DiffFS("one", a, "copied", flattenT(t, copied), Ignore{})
	if len(d) != 3 || !strings.Contains(d[0], "hardlinks") {
		t.Errorf("want 3 hardlink differences, got:\n%s", strings.Join(d, "\n"))
	}
}

func TestDiffFSReportsEachField(t *testing.T) {
	capA := map[string]string{"SCHILY.xattr.security.capability": "\x01"}
	a := flattenT(t, image(t, v1.Config{}, layer(t,
		ent{name: "f", typ: tar.TypeReg, mode: 0o644, body: "one"},
		ent{name: "g", typ: tar.TypeReg, mode: 0o755, uid: 1},
		ent{name: "l", typ: tar.TypeSymlink, link: "f"},
		ent{name: "x", typ: tar.TypeReg, pax: capA},
		ent{name: "only-a", typ: tar.TypeDir, mode: 0o755},
		ent{name: "ign/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "ign/z", typ: tar.TypeReg, mode: 0o755},
	)))
	b := flattenT(t, image(t, v1.Config{}, layer(t,
		ent{name: "f", typ: tar.TypeReg, mode: 0o644, body: "two"},
		ent{name: "g", typ: tar.TypeReg, mode: 0o2755, uid: 1, gid: 2},
		ent{name: "l", typ: tar.TypeSymlink, link: "/f"},
		ent{name: "x", typ: tar.TypeReg},
		ent{name: "ign/", typ: tar.TypeDir, mode: 0o700},
	)))
	got := strings.Join(DiffFS("docker", a, "ours", b, Ignore{Paths: []string{"/ign/**"}}), "\n")
	for _, want := range []string{
		`/f: content docker=3B "one" ours=3B "two"`,
		`/g: mode docker=0755 ours=2755`,
		`/g: owner docker=1:0 ours=1:2`,
		`/l: target docker=f ours=/f`,
		`/only-a: docker=dir 0755 0:0 ours=<absent>`,
		`/x: xattrs docker={security.capability=01} ours={}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "/ign") {
		t.Errorf("ignored path reported:\n%s", got)
	}
}

func TestIgnorePath(t *testing.T) {
	ig := Ignore{Paths: []string{"/exact", "/glob/*.txt", "/tree/**"}}
	for p, want := range map[string]bool{
		"/exact": true, "/exact/child": false, "/glob/a.txt": true, "/glob/a.md": false,
		"/glob/sub/a.txt": false, "/tree": true, "/tree/a/b": true, "/treehouse": false,
	} {
		if got := ig.Path(p); got != want {
			t.Errorf("Path(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestDiffConfig(t *testing.T) {
	a := []byte(`{"config": {"Env": ["A=1"], "Cmd": null, "Labels": {}, "User": "app", "Healthcheck": {"Test": ["NONE"]}}}`)
	b := []byte(`{"config": {"Env": ["A=1"], "Cmd": [], "User": "1000", "ArgsEscaped": true, "Healthcheck": {"Test": ["NONE"], "StartInterval": 0}}}`)
	d, err := DiffConfig("docker", a, "ours", b, Ignore{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 1 || d[0] != `config User: docker="app" ours="1000"` {
		t.Errorf("got %q", d)
	}
	d, err = DiffConfig("docker", a, "ours", b, Ignore{Config: []string{"User"}})
	if err != nil || len(d) != 0 {
		t.Errorf("with User ignored got %q, %v", d, err)
	}
	c := []byte(`{"author": "me", "config": {"Env": ["A=1"], "User": "app", "Healthcheck": {"Test": ["NONE"], "StartInterval": 5}}}`)
	d, err = DiffConfig("docker", a, "ours", c, Ignore{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d, "\n"); !strings.Contains(got, "StartInterval") || !strings.Contains(got, `config Author: docker="" ours="me"`) {
		t.Errorf("got %q", d)
	}
}

func TestExpect(t *testing.T) {
	img := image(t, v1.Config{Env: []string{"PATH=/bin", "K=v"}, User: "app", Labels: map[string]string{"a": "b"}},
		layer(t,
			ent{name: "run/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "run/.wh.secret", typ: tar.TypeReg},
			ent{name: "f", typ: tar.TypeReg, mode: 0o600, uid: 1000, gid: 50, body: "uid=1000 hunter2\n"},
			ent{name: "h", typ: tar.TypeLink, link: "f"},
			ent{name: "l", typ: tar.TypeSymlink, link: "f"},
		))
	var e Expect
	spec := `{
	  "files": {
	    "/f": {"type": "file", "mode": "0600", "uid": 1000, "gid": 50, "matches": "^uid=1000 ", "linkedWith": ["/h"]},
	    "/l": {"type": "symlink", "target": "f"},
	    "/h": {"content": "wrong"}
	  },
	  "absent": ["/f"],
	  "absentFromLayers": ["/run/secret"],
	  "contentAbsent": ["hunter2", "not-there"],
	  "config": {"User": "app", "Labels": {"a": "b"}, "Cmd": null},
	  "env": {"K": "v", "PATH": null, "MISSING": "x"},
	  "layers": 2,
	  "historyContains": ["echo hello"],
	  "historyNotContains": ["hello"]
	}`
	if err := json.Unmarshal([]byte(spec), &e); err != nil {
		t.Fatal(err)
	}
	problems, err := e.Check(img, flattenT(t, img), Ignore{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems, "\n")
	for _, want := range []string{
		`/h: content: want "wrong"`,
		`/f: want absent`,
		`layer 0 has entry run/.wh.secret`,
		`layer 0: f contains "hunter2"`,
		`env PATH: want unset, got "/bin"`,
		`env MISSING: want "x", got unset`,
		`layers: want 2, got 1`,
		`history: an entry contains "hello"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if n := len(problems); n != 8 {
		t.Errorf("got %d problems, want 8:\n%s", n, got)
	}
}

func TestSameCreatedBy(t *testing.T) {
	h := strings.Repeat("3b", 32)
	for _, c := range []struct {
		legacy, ours string
		asLegacy     bool
		want         bool
	}{
		{"/bin/sh -c #(nop)  ENV A=1", "ENV A=1", false, true},
		{"/bin/sh -c echo hi", "RUN /bin/sh -c echo hi # buildkit", false, true},
		{"RUN /bin/sh -c echo hi", "RUN /bin/sh -c echo ho", true, false},
		{"/bin/sh -c #(nop) COPY file:" + h + " in /app/f.txt ", "COPY f.txt /app/f.txt", true, true},
		{"/bin/sh -c #(nop) COPY file:" + h + " in /app/f.txt ", "COPY f.txt /app/f.txt", false, false},
		{"/bin/sh -c #(nop) COPY file:" + h + " in /app/f.txt ", "COPY f.txt /app/g.txt", true, false},
		{"/bin/sh -c #(nop) COPY file:" + h + " in /app/f.txt ", "ADD f.txt /app/f.txt", true, false},
		{"/bin/sh -c #(nop) COPY --chown=1:2file:" + h + " in /tl ", "COPY --chown=1:2 f.txt /tl", true, true},
		{"/bin/sh -c #(nop) ADD " + h + " in /d/ ", "ADD http://x/f /d/", true, true},
		{"/bin/sh -c #(nop) COPY dir:" + h + " in / ", "COPY d /", true, true},
		{"/bin/sh -c #(nop)  EXPOSE 80", "EXPOSE [80/tcp]", true, true},
		{"/bin/sh -c #(nop)  EXPOSE 80", "EXPOSE [80/tcp]", false, false},
		{"/bin/sh -c #(nop)  ARG A", "ARG A=from cli", true, true},
		{"/bin/sh -c #(nop)  ARG A", "ARG B=1", true, false},
		{"|2 A=x y B=1 /bin/sh -c echo $A", "RUN |3 B=1 A=x y C= /bin/sh -c echo $A", true, true},
		{"|0 /bin/sh -c echo", "RUN /bin/sh -c echo", true, true},
		{"|1 A=1 /bin/sh -c echo 1", "RUN |1 A=1 /bin/sh -c echo 2", true, false},
		{"|1 A=1 /bin/sh -c echo", "RUN |1 A=2 /bin/sh -c echo", false, false},
	} {
		x, y := NormalizeCreatedBy(c.legacy), NormalizeCreatedBy(c.ours)
		if got := SameCreatedBy(x, y, c.asLegacy); got != c.want {
			t.Errorf("SameCreatedBy(%q, %q, legacy=%t) = %t, want %t", x, y, c.asLegacy, got, c.want)
		}
	}
}
