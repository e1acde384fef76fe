package imagecmp

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Mutation changes one thing of an image that Compare must report: the
// oracle's self-test. Apply fails when the image has nothing to change
// (no hard link, say).
type Mutation struct {
	Name  string
	Apply func(v1.Image) (v1.Image, error)
}

// Mutations lists one mutation of every kind of difference Compare
// checks: config values (an empty one included), layers, history, media
// types, diff IDs, and each field of a file.
func Mutations() []Mutation {
	return []Mutation{
		{"port changed", config(func(c *v1.Config) error { return swapKey(&c.ExposedPorts, "9999/udp") })},
		{"port added", config(func(c *v1.Config) error { return addKey(&c.ExposedPorts, "4242/tcp") })},
		{"volume added", config(func(c *v1.Config) error { return addKey(&c.Volumes, "/mutated") })},
		{"volume changed", config(func(c *v1.Config) error { return swapKey(&c.Volumes, "/elsewhere") })},
		{"label emptied", config(func(c *v1.Config) error { return emptyLabel(c) })},
		{"empty label added", config(func(c *v1.Config) error {
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels["mutated"] = ""
			return nil
		})},
		{"env changed", config(func(c *v1.Config) error { c.Env = append(c.Env, "MUTATED=1"); return nil })},
		{"cmd changed", config(func(c *v1.Config) error { c.Cmd = append(c.Cmd, "mutated"); return nil })},
		{"workdir changed", config(func(c *v1.Config) error { c.WorkingDir = "/mutated"; return nil })},
		{"user changed", config(func(c *v1.Config) error { c.User = "4242"; return nil })},
		{"extra layer", extraLayer},
		{"history entry dropped", configFile(dropEmptyHistory)},
		{"history created_by changed", configFile(func(cf *v1.ConfigFile) error {
			if len(cf.History) == 0 {
				return errors.New("no history")
			}
			h := &cf.History[len(cf.History)-1]
			h.CreatedBy = "RUN mutated"
			return nil
		})},
		{"empty_layer flipped", configFile(func(cf *v1.ConfigFile) error {
			for i := len(cf.History) - 1; i >= 0; i-- {
				if cf.History[i].EmptyLayer {
					cf.History[i].EmptyLayer = false
					return nil
				}
			}
			return errors.New("no empty history entry")
		})},
		{"diff_id wrong", configFile(func(cf *v1.ConfigFile) error {
			if len(cf.RootFS.DiffIDs) == 0 {
				return errors.New("no layers")
			}
			cf.RootFS.DiffIDs[0].Hex = strings.Repeat("0", 64)
			return nil
		})},
		{"layer media type", layerMediaType},
		{"file mode", entry(isFile, func(h *tar.Header, _ *[]byte) { h.Mode ^= 0o020 })},
		{"file owner", entry(isFile, func(h *tar.Header, _ *[]byte) { h.Uid += 7 })},
		{"file mtime", entry(isFile, func(h *tar.Header, _ *[]byte) { h.ModTime = shifted(h.ModTime) })},
		{"file content", entry(isFile, func(h *tar.Header, b *[]byte) { *b = append(*b, 'x'); h.Size++ })},
		{"file xattr", entry(isFile, func(h *tar.Header, _ *[]byte) {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords[xattrPrefix+"user.mutated"] = "1"
			h.Format = tar.FormatPAX
		})},
		{"directory mtime", entry(isDir, func(h *tar.Header, _ *[]byte) { h.ModTime = shifted(h.ModTime) })},
		{"symlink target", entry(func(h *tar.Header) bool { return h.Typeflag == tar.TypeSymlink },
			func(h *tar.Header, _ *[]byte) { h.Linkname += "-mutated" })},
		{"whiteout missing", dropEntry(func(h *tar.Header) bool {
			base := path.Base(h.Name)
			return strings.HasPrefix(base, whiteoutPrefix) && base != opaqueWhiteout
		})},
		{"hardlink made a copy", hardlinkToCopy},
		{"root directory", rootEntry},
	}
}

// shifted is t an hour earlier (out of a build's time, when t was in it),
// or an hour later where earlier is before 1970.
func shifted(t time.Time) time.Time {
	if e := t.Add(-time.Hour); e.After(time.Unix(0, 0)) {
		return e
	}
	return t.Add(time.Hour)
}

// config changes the image's run config.
func config(f func(*v1.Config) error) func(v1.Image) (v1.Image, error) {
	return configFile(func(cf *v1.ConfigFile) error { return f(&cf.Config) })
}

// configFile changes the image's config file, keeping its layers.
func configFile(f func(*v1.ConfigFile) error) func(v1.Image) (v1.Image, error) {
	return func(img v1.Image) (v1.Image, error) {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		if err := f(cf); err != nil {
			return nil, err
		}
		return mutate.ConfigFile(img, cf)
	}
}

func swapKey(m *map[string]struct{}, to string) error {
	for k := range *m {
		delete(*m, k)
		(*m)[to] = struct{}{}
		return nil
	}
	return errors.New("nothing to change")
}

func addKey(m *map[string]struct{}, k string) error {
	if *m == nil {
		*m = map[string]struct{}{}
	}
	(*m)[k] = struct{}{}
	return nil
}

func emptyLabel(c *v1.Config) error {
	for k, v := range c.Labels {
		if v != "" {
			c.Labels[k] = ""
			return nil
		}
	}
	return errors.New("no label with a value")
}

func dropEmptyHistory(cf *v1.ConfigFile) error {
	for i := len(cf.History) - 1; i >= 0; i-- {
		if cf.History[i].EmptyLayer {
			cf.History = append(cf.History[:i], cf.History[i+1:]...)
			return nil
		}
	}
	return errors.New("no empty history entry")
}

// extraLayer appends a layer with one file, and its history entry.
func extraLayer(img v1.Image) (v1.Image, error) {
	l, err := tarLayer([]tarEntry{{hdr: &tar.Header{Name: "mutated.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, body: []byte("m")}}, layerType(img))
	if err != nil {
		return nil, err
	}
	out, err := mutate.AppendLayers(img, l)
	if err != nil {
		return nil, err
	}
	return configFile(func(cf *v1.ConfigFile) error {
		cf.History = append(cf.History, v1.History{CreatedBy: "COPY mutated.txt /"})
		return nil
	})(out)
}

// layerMediaType gives the last layer the other format's media type.
func layerMediaType(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) == 0 {
		return nil, errors.New("no layers")
	}
	other := types.OCILayer
	if formatOf(m.Layers[len(m.Layers)-1].MediaType) == "oci" {
		other = types.DockerLayer
	}
	return rewriteLayer(img, len(m.Layers)-1, other, func(es []tarEntry) ([]tarEntry, bool) { return es, true })
}

type tarEntry struct {
	hdr  *tar.Header
	body []byte
}

func isFile(h *tar.Header) bool {
	return h.Typeflag == tar.TypeReg && !strings.HasPrefix(path.Base(h.Name), whiteoutPrefix)
}

func isDir(h *tar.Header) bool { return h.Typeflag == tar.TypeDir && Clean(h.Name) != "/" }

// entry changes the last entry that match selects, in the top-most layer
// that has one (so no later layer hides the change).
func entry(match func(*tar.Header) bool, change func(*tar.Header, *[]byte)) func(v1.Image) (v1.Image, error) {
	return func(img v1.Image) (v1.Image, error) {
		return rewriteTop(img, func(es []tarEntry) ([]tarEntry, bool) {
			for i := len(es) - 1; i >= 0; i-- {
				if match(es[i].hdr) && !hidden(es, i) {
					change(es[i].hdr, &es[i].body)
					return es, true
				}
			}
			return nil, false
		})
	}
}

// hidden tells an entry that a later entry of its layer replaces.
func hidden(es []tarEntry, i int) bool {
	p := Clean(es[i].hdr.Name)
	for _, e := range es[i+1:] {
		if Clean(e.hdr.Name) == p {
			return true
		}
	}
	return false
}

// dropEntry removes the last entry that match selects, top-most layer
// first.
func dropEntry(match func(*tar.Header) bool) func(v1.Image) (v1.Image, error) {
	return func(img v1.Image) (v1.Image, error) {
		return rewriteTop(img, func(es []tarEntry) ([]tarEntry, bool) {
			for i := len(es) - 1; i >= 0; i-- {
				if match(es[i].hdr) {
					return append(es[:i:i], es[i+1:]...), true
				}
			}
			return nil, false
		})
	}
}

// hardlinkToCopy replaces a hard link by a copy of its target's content.
func hardlinkToCopy(img v1.Image) (v1.Image, error) {
	return rewriteTop(img, func(es []tarEntry) ([]tarEntry, bool) {
		for i := len(es) - 1; i >= 0; i-- {
			h := es[i].hdr
			if h.Typeflag != tar.TypeLink {
				continue
			}
			for _, t := range es {
				if Clean(t.hdr.Name) == Clean(h.Linkname) && t.hdr.Typeflag == tar.TypeReg {
					c := *t.hdr
					c.Name = h.Name
					es[i] = tarEntry{hdr: &c, body: append([]byte{}, t.body...)}
					return es, true
				}
			}
		}
		return nil, false
	})
}

// rootEntry changes the root directory's mode, or adds a root entry where
// no layer has one.
func rootEntry(img v1.Image) (v1.Image, error) {
	out, err := rewriteTop(img, func(es []tarEntry) ([]tarEntry, bool) {
		for _, e := range es {
			if Clean(e.hdr.Name) == "/" && e.hdr.Typeflag == tar.TypeDir {
				e.hdr.Mode ^= 0o022
				return es, true
			}
		}
		return nil, false
	})
	if err == nil {
		return out, nil
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		return nil, errors.New("no layers")
	}
	return rewriteLayer(img, len(layers)-1, "", func(es []tarEntry) ([]tarEntry, bool) {
		root := &tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o700, ModTime: time.Unix(1, 0)}
		return append([]tarEntry{{hdr: root}}, es...), true
	})
}

// rewriteTop rewrites the top-most layer where change finds something to
// change.
func rewriteTop(img v1.Image, change func([]tarEntry) ([]tarEntry, bool)) (v1.Image, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for i := len(layers) - 1; i >= 0; i-- {
		es, err := readEntries(layers[i])
		if err != nil {
			return nil, err
		}
		if _, ok := change(es); ok {
			return rewriteLayer(img, i, "", change)
		}
	}
	return nil, errors.New("nothing to change")
}

// rewriteLayer replaces layer i by its entries as change gives them, with
// the media type mt ("" keeps the layer's), and the config's diff ID.
func rewriteLayer(img v1.Image, i int, mt types.MediaType, change func([]tarEntry) ([]tarEntry, bool)) (v1.Image, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	es, err := readEntries(layers[i])
	if err != nil {
		return nil, err
	}
	es, ok := change(es)
	if !ok {
		return nil, errors.New("nothing to change")
	}
	if mt == "" {
		if mt, err = layers[i].MediaType(); err != nil {
			return nil, err
		}
	}
	nl, err := tarLayer(es, mt)
	if err != nil {
		return nil, err
	}
	layers[i] = nl
	return rebuild(img, layers)
}

// rebuild makes img again with layers in place of its own: same media
// types, same config and history, the new diff IDs.
func rebuild(img v1.Image, layers []v1.Layer) (v1.Image, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), m.Config.MediaType)
	out, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, err
	}
	ids := make([]v1.Hash, len(layers))
	for i, l := range layers {
		if ids[i], err = l.DiffID(); err != nil {
			return nil, err
		}
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs = ids
	return mutate.ConfigFile(out, cf)
}

func readEntries(l v1.Layer) ([]tarEntry, error) {
	var out []tarEntry
	err := eachEntry(l, func(h *tar.Header, r io.Reader) error {
		body, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("reading %s: %w", h.Name, err)
		}
		out = append(out, tarEntry{hdr: h, body: body})
		return nil
	})
	return out, err
}

func tarLayer(es []tarEntry, mt types.MediaType) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, fmt.Errorf("writing %s: %w", e.hdr.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("writing %s: %w", e.hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(mt))
}

func layerType(img v1.Image) types.MediaType {
	if m, err := img.Manifest(); err == nil && formatOf(m.MediaType) == "oci" {
		return types.OCILayer
	}
	return types.DockerLayer
}
