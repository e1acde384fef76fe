package imagecmp

import (
	"fmt"
	"path"
	"regexp"
	"slices"
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
	read    []layerRead
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
	fs, read, err := flatten(img)
	if err != nil {
		return nil, err
	}
	out := &Image{Img: img, Manifest: m, RawConfig: raw, Config: cf, FS: fs}
	out.read = read
	for _, r := range read {
		out.DiffIDs = append(out.DiffIDs, r.diffID)
	}
	return out, nil
}

// Options steer Compare.
type Options struct {
	Ignore Ignore
	Times  Times
	// Legacy says image a is from docker's legacy builder, whose history
	// spells some entries its own way (SameCreatedBy).
	Legacy bool
}

// Compare lists every difference between images a and b (a is usually the
// reference): files (with modification times and the root directory),
// config, layer count, history, media types; and whatever makes either
// image inconsistent in itself (Check). A layer that changes nothing
// counts as none: BuildKit writes an empty one for a WORKDIR that exists
// and none for a COPY of what is there already, the legacy builder the
// other way round.
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
	if x, y := a.layers(opt.Times), b.layers(opt.Times); x != y {
		out = append(out, fmt.Sprintf("layers: %s=%d %s=%d", aName, x, bName, y))
	}
	out = append(out, diffHistory(aName, a.history(opt.Times), bName, b.history(opt.Times), opt)...)
	x, y := mediaTypes(a), mediaTypes(b)
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			out = append(out, fmt.Sprintf("media type of %s: %s=%s %s=%s", mediaTypeWhat(i), aName, x[i], bName, y[i]))
		}
	}
	return append(out, diffFS(aName, a.FS, bName, b.FS, opt.Ignore, &opt.Times)...), nil
}

// noop tells whether layer i changes nothing: no entry, or only what the
// layers below have already, times equal as tm compares them.
func (img *Image) noop(i int, tm Times) bool {
	r := img.read[i]
	if r.changed {
		return false
	}
	for _, t := range r.retimed {
		if tm.describe(t[0]) != tm.describe(t[1]) {
			return false
		}
	}
	return true
}

// layers counts the layers that change something.
func (img *Image) layers(tm Times) int {
	n := 0
	for i := range img.read {
		if !img.noop(i, tm) {
			n++
		}
	}
	return n
}

// history is the config's history with the entries of layers that change
// nothing marked empty_layer.
func (img *Image) history(tm Times) []v1.History {
	out := make([]v1.History, len(img.Config.History))
	l := 0
	for i, h := range img.Config.History {
		if !h.EmptyLayer {
			if l < len(img.read) && img.noop(l, tm) {
				h.EmptyLayer = true
			}
			l++
		}
		out[i] = h
	}
	return out
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
// ignored) as SameCreatedBy says, and empty_layer. Against the legacy
// builder, ONBUILD entries are left out: it writes one per ONBUILD,
// BuildKit none.
func diffHistory(aName string, a []v1.History, bName string, b []v1.History, opt Options) []string {
	if opt.Legacy {
		a, b = withoutOnbuild(a), withoutOnbuild(b)
	}
	var out []string
	if len(a) != len(b) {
		out = append(out, fmt.Sprintf("history: %s=%d entries %s=%d", aName, len(a), bName, len(b)))
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := NormalizeCreatedBy(a[i].CreatedBy), NormalizeCreatedBy(b[i].CreatedBy)
		if !opt.Ignore.History && !SameCreatedBy(x, y, opt.Legacy) {
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

// SameCreatedBy compares two normalized history entries: they must be
// equal. When x is the legacy builder's (legacy), its own spellings are
// taken for what they say:
//   - COPY and ADD name their sources by content hash ("COPY file:3b0f…
//     in /dst", "ADD 3b0f… in /dst" for a URL): the keyword and the
//     destination's last element must agree;
//   - EXPOSE as written and HEALTHCHECK as a pointer, where BuildKit lists
//     the ports and the whole struct: the keyword must agree (the config
//     comparison checks the values);
//   - ARG as written, where BuildKit writes the value in force: the names
//     must agree;
//   - RUN's "|N K=V" lists only the build args that have a value and no
//     ENV of the same name, sorted (BuildKit: every ARG of the stage, in
//     order): the commands must agree.
func SameCreatedBy(x, y string, legacy bool) bool {
	if x == y {
		return true
	}
	if !legacy {
		return false
	}
	if m := legacyCopy.FindStringSubmatch(x); m != nil {
		return strings.HasPrefix(y, m[1]+" ") && sameDest(strings.TrimSpace(m[2]), y)
	}
	kx, rx, _ := strings.Cut(x, " ")
	ky, ry, _ := strings.Cut(y, " ")
	if kx != ky {
		return false
	}
	switch kx {
	case "EXPOSE", "HEALTHCHECK":
		return true
	case "ARG":
		// x is as written: its words' names must each be a word of y,
		// alone or before "=".
		words := strings.Fields(ry)
		for _, f := range strings.Fields(rx) {
			k, _, _ := strings.Cut(f, "=")
			if !slices.ContainsFunc(words, func(w string) bool { return w == k || strings.HasPrefix(w, k+"=") }) {
				return false
			}
		}
		return true
	case "RUN":
		return sameRunCommand(rx, ry)
	}
	return false
}

// sameRunCommand tells whether two RUN entries (after "RUN ") run the
// same command, whatever build args each lists before it: the words that
// differ must all stand in "|N K=V ..." blocks (values may hold spaces).
func sameRunCommand(x, y string) bool {
	n := 0
	for n < len(x) && n < len(y) && x[len(x)-1-n] == y[len(y)-1-n] {
		n++
	}
	px, py, cmd := x[:len(x)-n], y[:len(y)-n], x[len(x)-n:]
	// The command starts at a word: move a partial word into the prefixes.
	for !(strings.HasSuffix(px, " ") || px == "") || !(strings.HasSuffix(py, " ") || py == "") {
		i := strings.Index(cmd, " ")
		if i < 0 {
			return false
		}
		px, py, cmd = px+cmd[:i+1], py+cmd[:i+1], cmd[i+1:]
	}
	return cmd != "" && (px == "" || runArgsBlock.MatchString(px)) && (py == "" || runArgsBlock.MatchString(py))
}

// runArgsBlock is "|N " and N words K=V, a value possibly with spaces.
var runArgsBlock = regexp.MustCompile(`^\|\d+ ([A-Za-z_][A-Za-z0-9_]*=.*)?$`)

// sameDest tells whether the instruction y ends with the legacy builder's
// destination dest: its last element, or the root.
func sameDest(dest, y string) bool {
	d := strings.TrimRight(dest, "/")
	if d == "" || d == "." {
		return strings.HasSuffix(y, " /") || strings.HasSuffix(y, " .") || strings.HasSuffix(y, " ./")
	}
	return strings.HasSuffix(strings.TrimRight(y, "/"), path.Base(d))
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
// Flags stand before it, the last one with no space after it
// ("COPY --chown=1:2file:3b0f… in /dst").
var legacyCopy = regexp.MustCompile(`^(COPY|ADD) .*?(?:(?:file|dir|multi):)?[0-9a-f]{64} in (.*)$`)

// NormalizeCreatedBy takes away the prefixes and suffixes each builder
// puts around an instruction: the legacy builder's "/bin/sh -c #(nop) "
// before metadata instructions (and nothing before its RUN entries), and
// BuildKit's " # buildkit" after RUN, COPY and ADD.
func NormalizeCreatedBy(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimSuffix(s, "# buildkit"))
	if _, after, ok := strings.Cut(s, "#(nop) "); ok {
		return strings.TrimSpace(after)
	}
	if !instructionWord.MatchString(s) {
		return "RUN " + s
	}
	return s
}
