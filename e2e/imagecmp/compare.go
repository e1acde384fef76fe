package imagecmp

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image is what Compare reads of one image.
type Image struct {
	Img       v1.Image
	Manifest  *v1.Manifest
	RawConfig []byte
	Config    *v1.ConfigFile
	FS        FS
	// DiffIDs are the sha256 of each layer's uncompressed content, as read
	// (not as the config claims).
	DiffIDs []v1.Hash
}

// Read reads and flattens img.
func Read(img v1.Image) (*Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	fs, diffIDs, err := flatten(img)
	if err != nil {
		return nil, err
	}
	return &Image{Img: img, Manifest: m, RawConfig: raw, Config: cf, FS: fs, DiffIDs: diffIDs}, nil
}

// Options steer Compare.
type Options struct {
	Ignore Ignore
	Times  Times
}

// Compare lists every difference between images a and b (a is usually the
// reference): files (with modification times and the root directory),
// config, layer count, history, media types; and whatever makes either
// image inconsistent in itself (Check).
func Compare(aName string, a *Image, bName string, b *Image, opt Options) ([]string, error) {
	var out []string
	for _, side := range []struct {
		name string
		img  *Image
	}{{aName, a}, {bName, b}} {
		for _, p := range Check(side.img) {
			out = append(out, side.name+": "+p)
		}
	}
	cdiffs, err := DiffConfig(aName, a.RawConfig, bName, b.RawConfig, opt.Ignore)
	if err != nil {
		return nil, err
	}
	out = append(out, cdiffs...)
	if x, y := len(a.Manifest.Layers), len(b.Manifest.Layers); x != y {
		out = append(out, fmt.Sprintf("layers: %s=%d %s=%d", aName, x, bName, y))
	}
	out = append(out, diffHistory(aName, a.Config.History, bName, b.Config.History, opt.Ignore.History)...)
	x, y := mediaTypes(a), mediaTypes(b)
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			out = append(out, fmt.Sprintf("media type of %s: %s=%s %s=%s", mediaTypeWhat(i), aName, x[i], bName, y[i]))
		}
	}
	return append(out, diffFS(aName, a.FS, bName, b.FS, opt.Ignore, &opt.Times)...), nil
}

// Check lists how img disagrees with itself: the config's diff IDs against
// the layers' content, the number of non-empty history entries against
// the layers, and media types of one format throughout.
func Check(img *Image) []string {
	var out []string
	ids := img.Config.RootFS.DiffIDs
	if len(ids) != len(img.DiffIDs) || len(img.Manifest.Layers) != len(img.DiffIDs) {
		out = append(out, fmt.Sprintf("rootfs.diff_ids: %d, manifest layers: %d, layers read: %d",
			len(ids), len(img.Manifest.Layers), len(img.DiffIDs)))
	}
	for i := 0; i < len(ids) && i < len(img.DiffIDs); i++ {
		if ids[i] != img.DiffIDs[i] {
			out = append(out, fmt.Sprintf("rootfs.diff_ids[%d]: config=%s content=%s", i, ids[i], img.DiffIDs[i]))
		}
	}
	if len(img.Config.History) > 0 {
		n := 0
		for _, h := range img.Config.History {
			if !h.EmptyLayer {
				n++
			}
		}
		if n != len(img.Manifest.Layers) {
			out = append(out, fmt.Sprintf("history: %d entries with a layer, %d layers", n, len(img.Manifest.Layers)))
		}
	}
	format := Format(img)
	for i, mt := range mediaTypes(img) {
		if f := formatOf(mt); f != format {
			out = append(out, fmt.Sprintf("media type of %s: %s is not of the manifest's format (%s)", mediaTypeWhat(i), mt, format))
		}
	}
	return out
}

// Format is "docker" or "oci": the format of img's manifest.
func Format(img *Image) string { return formatOf(img.Manifest.MediaType) }

func formatOf(mt types.MediaType) string {
	if mt.IsSchema1() || strings.HasPrefix(string(mt), "application/vnd.docker.") {
		return "docker"
	}
	if strings.HasPrefix(string(mt), "application/vnd.oci.") {
		return "oci"
	}
	return "unknown (" + string(mt) + ")"
}

// mediaTypes lists the manifest's, the config's and each layer's media type.
func mediaTypes(img *Image) []types.MediaType {
	out := []types.MediaType{img.Manifest.MediaType, img.Manifest.Config.MediaType}
	for _, l := range img.Manifest.Layers {
		out = append(out, l.MediaType)
	}
	return out
}

func mediaTypeWhat(i int) string {
	switch i {
	case 0:
		return "the manifest"
	case 1:
		return "the config"
	}
	return fmt.Sprintf("layer %d", i-2)
}

// diffHistory compares history entries pairwise: created_by (unless
// ignored) as SameCreatedBy says, and empty_layer. ONBUILD entries are
// left out: the legacy builder writes one per ONBUILD, BuildKit none.
func diffHistory(aName string, a []v1.History, bName string, b []v1.History, ignoreCreatedBy bool) []string {
	a, b = withoutOnbuild(a), withoutOnbuild(b)
	var out []string
	if len(a) != len(b) {
		out = append(out, fmt.Sprintf("history: %s=%d entries %s=%d", aName, len(a), bName, len(b)))
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := NormalizeCreatedBy(a[i].CreatedBy), NormalizeCreatedBy(b[i].CreatedBy)
		if !ignoreCreatedBy && !SameCreatedBy(x, y) {
			out = append(out, fmt.Sprintf("history[%d] created_by: %s=%q %s=%q", i, aName, x, bName, y))
		}
		if a[i].EmptyLayer != b[i].EmptyLayer {
			out = append(out, fmt.Sprintf("history[%d] empty_layer (%s): %s=%t %s=%t", i, x, aName, a[i].EmptyLayer, bName, b[i].EmptyLayer))
		}
	}
	if len(a) != len(b) {
		out = append(out, fmt.Sprintf("history: %s=%s", aName, historyLine(a)), fmt.Sprintf("history: %s=%s", bName, historyLine(b)))
	}
	return out
}

func withoutOnbuild(h []v1.History) []v1.History {
	var out []v1.History
	for _, e := range h {
		if !strings.HasPrefix(NormalizeCreatedBy(e.CreatedBy), "ONBUILD ") {
			out = append(out, e)
		}
	}
	return out
}

// SameCreatedBy compares two normalized history entries. They must be
// equal, except where one is spelled as only the legacy builder spells
// it: COPY and ADD naming their sources by content hash ("COPY file:3b0f…
// in /dst"), which must then agree on the keyword and the destination's
// last element; EXPOSE as written and HEALTHCHECK as a pointer, where
// BuildKit lists the ports and the whole struct, which must then agree on
// the keyword (the config comparison checks the values).
func SameCreatedBy(x, y string) bool {
	if x == y {
		return true
	}
	for _, p := range [][2]string{{x, y}, {y, x}} {
		if m := legacyCopy.FindStringSubmatch(p[0]); m != nil {
			dest := path.Base(strings.TrimSpace(m[2]))
			return strings.HasPrefix(p[1], m[1]+" ") && strings.HasSuffix(strings.TrimSuffix(p[1], "/"), dest)
		}
	}
	for _, kw := range []string{"EXPOSE ", "HEALTHCHECK "} {
		if strings.HasPrefix(x, kw) && strings.HasPrefix(y, kw) {
			bx, by := buildkitSpelling(x, kw), buildkitSpelling(y, kw)
			return bx != by
		}
	}
	return false
}

// buildkitSpelling tells BuildKit's EXPOSE [80/tcp] and HEALTHCHECK {Test:…}
// from the legacy builder's EXPOSE 80 and HEALTHCHECK &{…}.
func buildkitSpelling(s, kw string) bool {
	rest := strings.TrimPrefix(s, kw)
	return strings.HasPrefix(rest, "[") || strings.HasPrefix(rest, "{")
}

func historyLine(h []v1.History) string {
	parts := make([]string, len(h))
	for i, e := range h {
		parts[i] = fmt.Sprintf("%q", NormalizeCreatedBy(e.CreatedBy))
		if e.EmptyLayer {
			parts[i] += "(empty)"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// instructionWord matches a history entry that starts with a Dockerfile
// instruction, as BuildKit and our executor write every entry.
var instructionWord = regexp.MustCompile(`^(ADD|ARG|CMD|COPY|ENTRYPOINT|ENV|EXPOSE|HEALTHCHECK|LABEL|MAINTAINER|ONBUILD|RUN|SHELL|STOPSIGNAL|USER|VOLUME|WORKDIR)( |$)`)

// legacyCopy is how the legacy builder names what COPY and ADD took: by
// content hash ("file:3b0f…", "dir:…", "multi:…") before " in DEST".
var legacyCopy = regexp.MustCompile(`^(COPY|ADD) [a-z]+:[0-9a-f]+ in (.*)$`)

// NormalizeCreatedBy takes away the prefixes and suffixes each builder
// puts around an instruction: the legacy builder's "/bin/sh -c #(nop) "
// before metadata instructions (and nothing before its RUN entries), and
// BuildKit's " # buildkit" after RUN, COPY and ADD. A RUN's build args
// ("RUN |2 B=1 A=2 ...") are sorted, as the legacy builder writes them
// (BuildKit keeps their ARG order), and the legacy builder's "|0 " (no
// build args) goes.
func NormalizeCreatedBy(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimSuffix(s, "# buildkit"))
	if _, after, ok := strings.Cut(s, "#(nop) "); ok {
		return strings.TrimSpace(after)
	}
	if !instructionWord.MatchString(s) {
		s = "RUN " + s
	}
	return sortRunArgs(s)
}

// sortRunArgs sorts the build args of "RUN |N K=V ... cmd".
func sortRunArgs(s string) string {
	rest, ok := strings.CutPrefix(s, "RUN |")
	if !ok {
		return s
	}
	fields := strings.SplitN(rest, " ", 2)
	n, err := strconv.Atoi(fields[0])
	if err != nil || len(fields) < 2 {
		return s
	}
	args := strings.SplitN(fields[1], " ", n+1)
	if len(args) < n+1 {
		return s
	}
	if n == 0 {
		return "RUN " + fields[1]
	}
	kv := append([]string{}, args[:n]...)
	sort.Strings(kv)
	return fmt.Sprintf("RUN |%d %s %s", n, strings.Join(kv, " "), args[n])
}
