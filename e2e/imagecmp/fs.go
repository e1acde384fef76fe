// Package imagecmp flattens container images into comparable file trees,
// reports the differences between two images (files and config), and
// checks images against written expectations.
//
// It is the comparison half of the conformance tests in ../: the tests
// build each case twice, with docker's legacy builder and with our
// executor, and require the two results to match here.
package imagecmp

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// File types, as written in expectations.
const (
	TypeFile     = "file"
	TypeDir      = "dir"
	TypeSymlink  = "symlink"
	TypeHardlink = "hardlink" // only for a hard link whose target is missing
	TypeChar     = "char"
	TypeBlock    = "block"
	TypeFifo     = "fifo"
)

// xattrPrefix is how archive/tar's PAX records carry extended attributes.
const xattrPrefix = "SCHILY.xattr."

// File is one path of a flattened image, with what the comparison looks
// at. Directory sizes are left out on purpose.
type File struct {
	Path string
	Type string
	// ModTime is the entry's modification time, to the second (the legacy
	// builder writes whole seconds).
	ModTime time.Time
	// Mode holds the permission bits plus setuid (04000), setgid (02000)
	// and sticky (01000).
	Mode     int64
	UID, GID int
	// Size and SHA256 are set for regular files.
	Size   int64
	SHA256 string
	// Content keeps the first bytes of a regular file, for messages and
	// content expectations.
	Content []byte
	// Target is a symlink's target, or a dangling hard link's.
	Target string
	// Links lists the other paths that are hard links to the same file,
	// sorted; empty when the file has one name.
	Links []string
	// Xattrs are the extended attributes (name without "SCHILY.xattr.").
	Xattrs map[string]string
	// Devmajor and Devminor are set for device nodes.
	Devmajor, Devminor int64
}

// FS is a flattened image, by absolute path ("/etc/passwd").
type FS map[string]*File

// Paths returns the paths of fs, sorted.
func (fs FS) Paths() []string {
	out := make([]string, 0, len(fs))
	for p := range fs {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// maxContent is how much of a file Flatten keeps in File.Content.
const maxContent = 64 << 10

// Whiteout names, as the OCI image spec writes them.
const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// Flatten applies the layers of img in order by the OCI image spec's
// rules and returns the resulting file tree: a whiteout or an opaque
// marker hides what lower layers have at (or under) its path, but never
// an entry of its own layer; a non-directory entry replaces whatever a
// lower layer had at its path, children included.
//
// go-containerregistry's mutate.Extract differs in one place: an entry
// that follows a whiteout of the same path in the same layer is dropped.
// FlattenExtract reads an image that way, to find layers that tools built
// on it would see differently.
func Flatten(img v1.Image) (FS, error) {
	fs, _, err := flatten(img)
	return fs, err
}

// layerRead is what flatten learns of one layer.
type layerRead struct {
	diffID v1.Hash // the sha256 of its uncompressed content
	// changed tells that applying it changed the file tree in more than
	// times; retimed are the times it changed, old and new.
	changed bool
	retimed [][2]time.Time
}

// flatten is Flatten that also tells what it read of each layer.
func flatten(img v1.Image) (FS, []layerRead, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, fmt.Errorf("listing layers: %w", err)
	}
	fs := FS{}
	hardlinks := map[string]string{}
	read := make([]layerRead, len(layers))
	for i, l := range layers {
		if read[i], err = applyLayer(fs, hardlinks, l); err != nil {
			return nil, nil, fmt.Errorf("applying layer %d: %w", i, err)
		}
	}
	for p, target := range hardlinks {
		if f, ok := fs[p]; !ok || f.Type != TypeHardlink || f.Target != target {
			delete(hardlinks, p) // replaced by a later layer
		}
	}
	resolveHardlinks(fs, hardlinks)
	return fs, read, nil
}

// applyLayer applies one layer to fs.
func applyLayer(fs FS, hardlinks map[string]string, l v1.Layer) (layerRead, error) {
	var read layerRead
	rc, err := l.Uncompressed()
	if err != nil {
		return read, fmt.Errorf("opening layer: %w", err)
	}
	defer rc.Close()
	sum := sha256.New()
	in := io.TeeReader(rc, sum)
	var (
		whiteouts []string // paths hidden, with all under them
		opaques   []string // directories whose lower contents are hidden
		entries   []*File
		links     = map[string]string{}
	)
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return read, fmt.Errorf("reading tar: %w", err)
		}
		p := Clean(h.Name)
		dir, base := path.Split(p)
		switch {
		case base == opaqueWhiteout:
			opaques = append(opaques, Clean(dir))
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			whiteouts = append(whiteouts, Clean(dir+strings.TrimPrefix(base, whiteoutPrefix)))
			continue
		}
		f, err := fileFromTar(p, h, tr)
		if err != nil {
			return read, err
		}
		if f.Type == TypeHardlink {
			links[p] = f.Target
		}
		entries = append(entries, f)
	}
	// Whiteouts and opaque markers act on the lower layers only.
	n := len(fs)
	for _, d := range opaques {
		removeUnder(fs, d)
	}
	for _, p := range whiteouts {
		delete(fs, p)
		removeUnder(fs, p)
	}
	read.changed = len(fs) != n
	for _, f := range entries {
		if f.Type != TypeDir {
			n := len(fs)
			removeUnder(fs, f.Path) // a non-directory hides what was under it
			read.changed = read.changed || len(fs) != n
		}
		switch old, ok := fs[f.Path]; {
		case !ok || !sameButTime(old, f):
			read.changed = true
		case !old.ModTime.Equal(f.ModTime):
			read.retimed = append(read.retimed, [2]time.Time{old.ModTime, f.ModTime})
		}
		fs[f.Path] = f
	}
	for p, t := range links {
		hardlinks[p] = t
	}
	// The tar's end-of-archive blocks and padding count for the diff ID.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return read, fmt.Errorf("reading layer: %w", err)
	}
	read.diffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum.Sum(nil))}
	return read, nil
}

// sameButTime tells whether a and b differ in their times at most.
func sameButTime(a, b *File) bool {
	c := *a
	c.ModTime = b.ModTime
	return reflect.DeepEqual(&c, b)
}

// removeUnder deletes every path strictly under dir.
func removeUnder(fs FS, dir string) {
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	for p := range fs {
		if strings.HasPrefix(p, prefix) && p != dir {
			delete(fs, p)
		}
	}
}

// FlattenExtract flattens img with go-containerregistry's mutate.Extract.
func FlattenExtract(img v1.Image) (FS, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	fs, err := ReadTar(rc)
	if err != nil {
		return nil, fmt.Errorf("flattening image: %w", err)
	}
	return fs, nil
}

// ReadTar reads a flattened tar stream (no whiteouts) into an FS and
// resolves its hard links.
func ReadTar(r io.Reader) (FS, error) {
	fs := FS{}
	hardlinks := map[string]string{} // path -> target path
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		f, err := fileFromTar(Clean(h.Name), h, tr)
		if err != nil {
			return nil, err
		}
		if f.Type == TypeHardlink {
			hardlinks[f.Path] = f.Target
		}
		fs[f.Path] = f
	}
	resolveHardlinks(fs, hardlinks)
	return fs, nil
}

// fileFromTar describes the tar entry h at path p, reading its content
// from r.
func fileFromTar(p string, h *tar.Header, r io.Reader) (*File, error) {
	f := &File{
		Path:    p,
		Mode:    h.Mode & 0o7777,
		UID:     h.Uid,
		GID:     h.Gid,
		ModTime: h.ModTime.UTC().Truncate(time.Second),
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPrefix); ok {
			if f.Xattrs == nil {
				f.Xattrs = map[string]string{}
			}
			f.Xattrs[name] = v
		}
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		f.Type = TypeFile
		sum := sha256.New()
		head := &limitedBuffer{max: maxContent}
		n, err := io.Copy(io.MultiWriter(sum, head), r)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		f.Size = n
		f.SHA256 = hex.EncodeToString(sum.Sum(nil))
		f.Content = head.buf
	case tar.TypeDir:
		f.Type = TypeDir
	case tar.TypeSymlink:
		f.Type = TypeSymlink
		f.Target = h.Linkname
	case tar.TypeLink:
		f.Type = TypeHardlink
		f.Target = Clean(h.Linkname)
	case tar.TypeChar:
		f.Type = TypeChar
		f.Devmajor, f.Devminor = h.Devmajor, h.Devminor
	case tar.TypeBlock:
		f.Type = TypeBlock
		f.Devmajor, f.Devminor = h.Devmajor, h.Devminor
	case tar.TypeFifo:
		f.Type = TypeFifo
	default:
		f.Type = fmt.Sprintf("tar type %q", h.Typeflag)
	}
	return f, nil
}

// resolveHardlinks gives each hard link its target's content and metadata
// and records the groups of names of one file. Which name of a group is
// the tar's "real" file depends on the order the tar was written in, so
// the groups are made symmetric.
func resolveHardlinks(fs FS, hardlinks map[string]string) {
	if len(hardlinks) == 0 {
		return
	}
	parent := map[string]string{}
	var find func(string) string
	find = func(p string) string {
		q, ok := parent[p]
		if !ok || q == p {
			return p
		}
		r := find(q)
		parent[p] = r
		return r
	}
	for p, target := range hardlinks {
		a, b := find(p), find(target)
		if a != b {
			parent[a] = b
		}
	}
	groups := map[string][]string{}
	for p := range hardlinks {
		groups[find(p)] = append(groups[find(p)], p)
	}
	for root, members := range groups {
		members = append(members, root)
		sort.Strings(members)
		members = compact(members)
		// The real file is the member that is not itself a link.
		var real *File
		for _, m := range members {
			if f, ok := fs[m]; ok && f.Type != TypeHardlink {
				real = f
				break
			}
		}
		if real == nil {
			continue // dangling: keep them as TypeHardlink with Target
		}
		for _, m := range members {
			f, ok := fs[m]
			if !ok {
				continue
			}
			if f.Type == TypeHardlink {
				f.Type, f.Target = real.Type, real.Target
				f.Mode, f.UID, f.GID, f.ModTime = real.Mode, real.UID, real.GID, real.ModTime
				f.Size, f.SHA256, f.Content = real.Size, real.SHA256, real.Content
				f.Xattrs = real.Xattrs
				f.Devmajor, f.Devminor = real.Devmajor, real.Devminor
			}
			for _, o := range members {
				if _, ok := fs[o]; ok && o != m {
					f.Links = append(f.Links, o)
				}
			}
		}
	}
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Clean turns a tar entry name into an absolute clean path.
func Clean(name string) string {
	return path.Clean("/" + strings.TrimPrefix(name, "./"))
}

type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		b.buf = append(b.buf, p[:room]...)
	}
	return len(p), nil
}

// EscapingLinks lists the relative symlinks of fs whose
// targets, taken from the link's directory, climb out of the root: what
// go-containerregistry's mutate.Extract leaves out.
func EscapingLinks(fs FS) []string {
	var out []string
	for p, f := range fs {
		if f.Type != TypeSymlink || path.IsAbs(f.Target) {
			continue
		}
		rel := path.Clean(path.Join(strings.TrimPrefix(path.Dir(p), "/"), f.Target))
		if rel == ".." || strings.HasPrefix(rel, "../") {
			out = append(out, p)
		}
	}
	return out
}
