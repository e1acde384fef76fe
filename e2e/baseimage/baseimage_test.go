//go:build e2e

package baseimage

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

func flatten(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading flattened image: %v", err)
		}
		out["/"+h.Name] = h
	}
}

func TestImagesAreValidAndDeterministic(t *testing.T) {
	first, err := All()
	if err != nil {
		t.Fatal(err)
	}
	second, err := All()
	if err != nil {
		t.Fatal(err)
	}
	for n, img := range first {
		if err := validate.Image(img); err != nil {
			t.Errorf("%s: validate.Image: %v", n, err)
		}
		mt, err := img.MediaType()
		if err != nil || mt != types.DockerManifestSchema2 {
			t.Errorf("%s: media type %q (%v), want %q", n, mt, err, types.DockerManifestSchema2)
		}
		d1, err1 := img.Digest()
		d2, err2 := second[n].Digest()
		if err1 != nil || err2 != nil || d1 != d2 {
			t.Errorf("%s: digests differ between two builds: %v (%v), %v (%v)", n, d1, err1, d2, err2)
		}
	}
}

func TestBusyboxContents(t *testing.T) {
	img, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	files := flatten(t, img)
	for p, want := range map[string]struct {
		typ      byte
		mode     int64
		uid, gid int
		link     string
	}{
		"/bin/busybox": {tar.TypeReg, 0o755, 0, 0, ""},
		"/bin/sh":      {tar.TypeSymlink, 0o777, 0, 0, "busybox"},
		"/bin/cat":     {tar.TypeSymlink, 0o777, 0, 0, "busybox"},
		"/tmp":         {tar.TypeDir, 0o1777, 0, 0, ""},
		"/root":        {tar.TypeDir, 0o700, 0, 0, ""},
		"/home/app":    {tar.TypeDir, 0o755, 1000, 1000, ""},
		"/etc/passwd":  {tar.TypeReg, 0o644, 0, 0, ""},
		"/etc/group":   {tar.TypeReg, 0o644, 0, 0, ""},
		"/usr/bin":     {tar.TypeDir, 0o755, 0, 0, ""},
		"/var":         {tar.TypeDir, 0o755, 0, 0, ""},
		"/proc":        {tar.TypeDir, 0o755, 0, 0, ""},
	} {
		h, ok := files[p]
		if !ok {
			t.Errorf("%s missing", p)
			continue
		}
		if h.Typeflag != want.typ || h.Mode != want.mode || h.Uid != want.uid || h.Gid != want.gid || h.Linkname != want.link {
			t.Errorf("%s = type %c mode %o %d:%d link %q, want type %c mode %o %d:%d link %q",
				p, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, want.typ, want.mode, want.uid, want.gid, want.link)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" ||
		len(cf.Config.Env) != 1 || cf.Config.Env[0] != "PATH="+DefaultPath {
		t.Errorf("unexpected config: %+v", cf)
	}
}

func TestLayeredWhiteouts(t *testing.T) {
	img, err := Layered()
	if err != nil {
		t.Fatal(err)
	}
	files := flatten(t, img)
	for _, p := range []string{"/data/keep", "/opt/old/new", "/bin/busybox"} {
		if _, ok := files[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
	for _, p := range []string{"/data/gone", "/opt/old/a", "/opt/old/b", "/opt/old/sub", "/opt/old/sub/c"} {
		if _, ok := files[p]; ok {
			t.Errorf("%s present, want whited out", p)
		}
	}
}

func TestXattrCarriesCapability(t *testing.T) {
	img, err := Xattr()
	if err != nil {
		t.Fatal(err)
	}
	files := flatten(t, img)
	h, ok := files["/usr/bin/capbin"]
	if !ok {
		t.Fatal("/usr/bin/capbin missing")
	}
	if got := h.PAXRecords["SCHILY.xattr.security.capability"]; got != CapabilityXattr {
		t.Errorf("capability xattr = %q, want %q", got, CapabilityXattr)
	}
	if h := files["/usr/bin/suid"]; h == nil || h.Mode != 0o4755 {
		t.Errorf("/usr/bin/suid = %+v, want mode 4755", h)
	}
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	reg, err := registry.Start(ctx, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	img, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/base/busybox:latest"
	if err := Push(ctx, img, ref); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate.Image after push: %v", err)
	}
	want, _ := img.Digest()
	gotD, _ := got.Digest()
	if want != gotD {
		t.Errorf("pulled digest %s, pushed %s", gotD, want)
	}
}

// The multi-platform busybox is a valid Docker manifest list with one
// image per platform, each config naming it, the same on every call.
func TestMultiBusybox(t *testing.T) {
	idx, err := MultiBusybox(BusyboxArm64())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	again, err := MultiBusybox(BusyboxArm64())
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := idx.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two calls gave %s and %s", d1, d2)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.DockerManifestList || len(m.Manifests) != 2 {
		t.Fatalf("%s with %d manifests, want a Docker manifest list of 2", m.MediaType, len(m.Manifests))
	}
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if desc.Platform == nil || cfg.Architecture != desc.Platform.Architecture || cfg.OS != "linux" {
			t.Errorf("%s: descriptor says %v, config %s/%s", desc.Digest, desc.Platform, cfg.OS, cfg.Architecture)
		}
		if _, ok := flatten(t, img)["/bin/uname"]; !ok {
			t.Errorf("%s: no /bin/uname", desc.Platform.Architecture)
		}
	}
}

// The Go image holds a toolchain cut down to what a program importing
// fmt needs, with the go command on PATH.
func TestGoToolchain(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	img, err := Go(strings.TrimSpace(string(out)), "fmt")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	files := flatten(t, img)
	for _, p := range []string{"/usr/local/go/bin/go", "/usr/local/go/pkg/tool/linux_amd64/compile", "/usr/local/go/src/fmt/print.go",
		"/usr/local/go/src/runtime/asm_arm64.s", "/bin/sh"} {
		if _, ok := files[p]; !ok {
			t.Errorf("no %s", p)
		}
	}
	if _, ok := files["/usr/local/go/src/fmt/fmt_test.go"]; ok {
		t.Error("tests are in the image")
	}
}
