// Package baseimage makes small, deterministic base images for the
// end-to-end tests and pushes them to a registry.
//
// Every image is built from the host's static busybox (package
// busybox-static), so the tests need no outside registry. Timestamps are
// fixed and the media types are Docker's, so the same host binary always
// gives the same digests.
package baseimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultBusybox is where Debian's busybox-static installs its binary.
const DefaultBusybox = "/bin/busybox"

// DefaultPath is the PATH every base image sets.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Epoch returns the modification time of every file and the creation
// time of every image made here: 2020-01-01T00:00:00Z.
func Epoch() time.Time { return time.Unix(1577836800, 0).UTC() }

// CapabilityXattr is the value of security.capability that the Xattr image
// puts on /usr/bin/capbin: a VFS_CAP_REVISION_2 record granting
// cap_net_bind_service (bit 10) as permitted and effective ("+ep").
// The fields are little-endian: magic_etc, then permitted and inheritable
// for the low and the high 32 capabilities.
const CapabilityXattr = "\x01\x00\x00\x02" + // magic_etc: revision 2, effective
	"\x00\x04\x00\x00" + // permitted[0]: 1<<10
	"\x00\x00\x00\x00" + // inheritable[0]
	"\x00\x00\x00\x00" + // permitted[1]
	"\x00\x00\x00\x00" // inheritable[1]

// OnbuildTriggers returns the ONBUILD instructions of the Onbuild image.
func OnbuildTriggers() []string {
	return []string{
		"RUN echo onbuild-ran > /onbuild.txt",
		"COPY onbuild/ /onbuild-ctx/",
	}
}

// Busybox returns the plain base image made from DefaultBusybox.
func Busybox() (v1.Image, error) {
	return BusyboxFrom(DefaultBusybox)
}

// BusyboxFrom returns the plain base image made from the busybox binary at
// bin: one layer with the binary, a symlink /bin/<applet> for every applet
// it lists, users, groups and the usual directories.
func BusyboxFrom(bin string) (v1.Image, error) {
	layer, err := busyboxLayer(bin)
	if err != nil {
		return nil, err
	}
	return build(baseConfig(), []v1.Layer{layer}, []string{"busybox root filesystem"})
}

// Layered returns Busybox with two more layers: the first adds files under
// /data and /opt/old, the second deletes /data/gone with a whiteout and
// replaces /opt/old with an opaque directory that holds only "new". Its
// flattened view has /data/keep and /opt/old/new.
func Layered() (v1.Image, error) {
	return LayeredFrom(DefaultBusybox)
}

// LayeredFrom is Layered with the busybox binary at bin.
func LayeredFrom(bin string) (v1.Image, error) {
	bb, err := busyboxLayer(bin)
	if err != nil {
		return nil, err
	}
	add, err := newLayer([]entry{
		dir("data", 0o755, 0, 0),
		file("data/keep", 0o644, 0, 0, "keep\n"),
		file("data/gone", 0o644, 0, 0, "gone\n"),
		dir("opt", 0o755, 0, 0),
		dir("opt/old", 0o755, 0, 0),
		file("opt/old/a", 0o644, 0, 0, "a\n"),
		file("opt/old/b", 0o600, 1000, 1000, "b\n"),
		dir("opt/old/sub", 0o700, 0, 0),
		file("opt/old/sub/c", 0o644, 0, 0, "c\n"),
	})
	if err != nil {
		return nil, err
	}
	del, err := newLayer([]entry{
		dir("data", 0o755, 0, 0),
		file("data/.wh.gone", 0o644, 0, 0, ""),
		dir("opt/old", 0o775, 0, 50),
		file("opt/old/.wh..wh..opq", 0o644, 0, 0, ""),
		file("opt/old/new", 0o644, 0, 0, "new\n"),
	})
	if err != nil {
		return nil, err
	}
	return build(baseConfig(), []v1.Layer{bb, add, del},
		[]string{"busybox root filesystem", "add /data and /opt/old", "delete /data/gone, make /opt/old opaque"})
}

// Xattr returns Busybox with a layer that adds /usr/bin/capbin, a small
// script carrying the security.capability extended attribute
// CapabilityXattr, and /usr/bin/suid, a setuid file.
func Xattr() (v1.Image, error) {
	return XattrFrom(DefaultBusybox)
}

// XattrFrom is Xattr with the busybox binary at bin.
func XattrFrom(bin string) (v1.Image, error) {
	bb, err := busyboxLayer(bin)
	if err != nil {
		return nil, err
	}
	capbin := file("usr/bin/capbin", 0o755, 0, 0, "#!/bin/sh\necho capbin\n")
	capbin.hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": CapabilityXattr}
	extra, err := newLayer([]entry{
		dir("usr", 0o755, 0, 0),
		dir("usr/bin", 0o755, 0, 0),
		capbin,
		file("usr/bin/suid", 0o4755, 0, 0, "#!/bin/sh\necho suid\n"),
	})
	if err != nil {
		return nil, err
	}
	return build(baseConfig(), []v1.Layer{bb, extra}, []string{"busybox root filesystem", "add capbin and suid"})
}

// Onbuild returns Busybox with OnbuildTriggers in its config, a label and
// a working directory, so that a build FROM it runs the triggers.
func Onbuild() (v1.Image, error) {
	return OnbuildFrom(DefaultBusybox)
}

// OnbuildFrom is Onbuild with the busybox binary at bin.
func OnbuildFrom(bin string) (v1.Image, error) {
	bb, err := busyboxLayer(bin)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig()
	cfg.Config.OnBuild = OnbuildTriggers()
	cfg.Config.Labels = map[string]string{"base": "onbuild"}
	return build(cfg, []v1.Layer{bb}, []string{"busybox root filesystem"})
}

// All returns every base image by the short name the tests use for it.
func All() (map[string]v1.Image, error) {
	makers := map[string]func() (v1.Image, error){
		"busybox": Busybox,
		"bare":    Bare,
		"layered": Layered,
		"xattr":   Xattr,
		"onbuild": Onbuild,
	}
	out := make(map[string]v1.Image, len(makers))
	for n, mk := range makers {
		img, err := mk()
		if err != nil {
			return nil, fmt.Errorf("making base image %s: %w", n, err)
		}
		out[n] = img
	}
	return out, nil
}

// Push writes img to the reference ref. Registries on loopback addresses
// are reached over plain HTTP.
func Push(ctx context.Context, img v1.Image, ref string, opts ...remote.Option) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	if err := remote.Write(r, img, opts...); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

func baseConfig() *v1.ConfigFile {
	return &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      v1.Time{Time: Epoch()},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Env: []string{"PATH=" + DefaultPath},
			Cmd: []string{"sh"},
		},
	}
}

func build(cfg *v1.ConfigFile, layers []v1.Layer, comments []string) (v1.Image, error) {
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting config: %w", err)
	}
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		adds[i] = mutate.Addendum{
			Layer: l,
			History: v1.History{
				Created:   v1.Time{Time: Epoch()},
				CreatedBy: "kaniko-build e2e baseimage",
				Comment:   comments[i],
			},
		}
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	return freeze(img)
}

// freeze serializes img once and serves it from those bytes. mutate's
// in-memory manifest has empty annotation maps where the serialized one has
// none, which validate.Image reports as a mismatch; a frozen image has one
// manifest only, the one that gets pushed.
func freeze(img v1.Image) (v1.Image, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("serializing manifest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("serializing config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	byDigest := make(map[v1.Hash]v1.Layer, len(layers))
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("digesting layer: %w", err)
		}
		byDigest[d] = l
	}
	frozen, err := partial.CompressedToImage(&frozenImage{manifest: manifest, config: config, layers: byDigest})
	if err != nil {
		return nil, fmt.Errorf("freezing image: %w", err)
	}
	return frozen, nil
}

type frozenImage struct {
	manifest, config []byte
	layers           map[v1.Hash]v1.Layer
}

func (f *frozenImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }
func (f *frozenImage) RawManifest() ([]byte, error)        { return f.manifest, nil }
func (f *frozenImage) RawConfigFile() ([]byte, error)      { return f.config, nil }

func (f *frozenImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	l, ok := f.layers[h]
	if !ok {
		return nil, fmt.Errorf("no layer with digest %s", h)
	}
	return l, nil
}

// Applets lists the applets of the busybox binary at bin.
func Applets(bin string) ([]string, error) {
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing applets of %s: %w", bin, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		applets = append(applets, a)
	}
	sort.Strings(applets)
	return applets, nil
}

const passwd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

const group = `root:x:0:
daemon:x:1:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
`

func busyboxLayer(bin string) (v1.Layer, error) {
	entries, err := busyboxEntries(bin)
	if err != nil {
		return nil, err
	}
	return newLayer(entries)
}

// Bare returns Busybox without /dev, /proc and /sys: a base where a RUN's
// mount points are missing, for tests that it leaves none behind.
func Bare() (v1.Image, error) {
	entries, err := busyboxEntries(DefaultBusybox)
	if err != nil {
		return nil, err
	}
	kept := entries[:0]
	for _, e := range entries {
		switch e.hdr.Name {
		case "dev/", "proc/", "sys/":
			continue
		}
		kept = append(kept, e)
	}
	layer, err := newLayer(kept)
	if err != nil {
		return nil, err
	}
	return build(baseConfig(), []v1.Layer{layer}, []string{"busybox root filesystem, no mount points"})
}

func busyboxEntries(bin string) ([]entry, error) {
	applets, err := Applets(bin)
	if err != nil {
		return nil, err
	}
	return busyboxEntriesWith(bin, applets)
}

// busyboxEntriesWith makes the busybox root filesystem with the given
// applets: for a binary this machine cannot run to ask.
func busyboxEntriesWith(bin string, applets []string) ([]entry, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("reading busybox binary: %w", err)
	}
	entries := []entry{
		dir("bin", 0o755, 0, 0),
		file("bin/busybox", 0o755, 0, 0, string(data)),
	}
	for _, a := range applets {
		entries = append(entries, symlink("bin/"+a, "busybox"))
	}
	// Empty /dev, /proc and /sys, as every distribution's image has: a
	// RUN's mount points are there already, and BuildKit, which otherwise
	// adds them to the RUN's layer, and docker agree.
	entries = append(entries,
		dir("dev", 0o755, 0, 0),
		dir("proc", 0o755, 0, 0),
		dir("sys", 0o755, 0, 0),
		dir("etc", 0o755, 0, 0),
		file("etc/passwd", 0o644, 0, 0, passwd),
		file("etc/group", 0o644, 0, 0, group),
		dir("home", 0o755, 0, 0),
		dir("home/app", 0o755, 1000, 1000),
		dir("root", 0o700, 0, 0),
		dir("tmp", 0o1777, 0, 0),
		dir("usr", 0o755, 0, 0),
		dir("usr/bin", 0o755, 0, 0),
		dir("usr/sbin", 0o755, 0, 0),
		dir("var", 0o755, 0, 0),
	)
	return entries, nil
}

type entry struct {
	hdr  tar.Header
	body string
}

func dir(p string, mode int64, uid, gid int) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, Uid: uid, Gid: gid}}
}

func file(p string, mode int64, uid, gid int, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Uid: uid, Gid: gid, Size: int64(len(body))}, body: body}
}

func symlink(p, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: target, Mode: 0o777}}
}

// newLayer writes entries into an uncompressed tar and wraps it as a
// gzip-compressed Docker layer.
func newLayer(entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime = Epoch()
		h.Format = tar.FormatPAX
		if h.Typeflag == tar.TypeDir && !strings.HasSuffix(h.Name, "/") {
			h.Name = path.Clean(h.Name) + "/"
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("writing tar header %s: %w", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			return nil, fmt.Errorf("writing tar body %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing tar: %w", err)
	}
	raw := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("making layer: %w", err)
	}
	return layer, nil
}
