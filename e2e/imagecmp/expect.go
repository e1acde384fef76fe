package imagecmp

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Expect is what an image must look like, written as JSON in a test case.
// Every field is optional; an empty Expect accepts any image.
type Expect struct {
	// Files maps absolute paths to what must be there.
	Files map[string]FileExpect `json:"files,omitempty"`
	// Absent paths must not exist in the flattened image.
	Absent []string `json:"absent,omitempty"`
	// AbsentFromLayers paths (and anything under them) must not appear in
	// any layer, not even as a whiteout: for mount targets and secrets.
	AbsentFromLayers []string `json:"absentFromLayers,omitempty"`
	// ContentAbsent strings must appear in no file of any layer and not in
	// the config blob (history included): for secret values.
	ContentAbsent []string `json:"contentAbsent,omitempty"`
	// Config maps keys of v1.Config (JSON names: "Env", "User",
	// "Healthcheck", ...) to their exact expected value. null equals an
	// empty list or map.
	Config map[string]json.RawMessage `json:"config,omitempty"`
	// Env maps variable names to expected values; null means unset. The
	// other variables are not looked at.
	Env map[string]*string `json:"env,omitempty"`
	// Image maps top-level keys of the config file ("author",
	// "architecture", "os", "variant") to their exact expected value.
	Image map[string]json.RawMessage `json:"image,omitempty"`
	// Layers, when set, is the exact number of layers.
	Layers *int `json:"layers,omitempty"`
	// HistoryContains strings must each appear in some history entry's
	// created_by or comment; HistoryNotContains in none.
	HistoryContains    []string `json:"historyContains,omitempty"`
	HistoryNotContains []string `json:"historyNotContains,omitempty"`
}

// FileExpect is what one path must be. Unset fields are not checked.
type FileExpect struct {
	// Type is file, dir, symlink, fifo, char or block.
	Type string `json:"type,omitempty"`
	// Mode is octal with the setuid/setgid/sticky digit: "0755", "4755".
	Mode string `json:"mode,omitempty"`
	UID  *int   `json:"uid,omitempty"`
	GID  *int   `json:"gid,omitempty"`
	// Content is the exact content of a regular file.
	Content *string `json:"content,omitempty"`
	// Matches is a regular expression (RE2) the content must match.
	Matches string `json:"matches,omitempty"`
	// NotMatches is a regular expression the content must not match.
	NotMatches string `json:"notMatches,omitempty"`
	Size       *int64 `json:"size,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	// Target is a symlink's target.
	Target *string `json:"target,omitempty"`
	// LinkedWith are paths that must be hard links to this one.
	LinkedWith []string `json:"linkedWith,omitempty"`
	// Xattrs maps attribute names (without "SCHILY.xattr.") to their
	// values in hex.
	Xattrs map[string]string `json:"xattrs,omitempty"`
}

// Check lists how img (flattened as fs) fails e. Paths and config keys
// that ig leaves out are not checked.
func (e *Expect) Check(img v1.Image, fs FS, ig Ignore) ([]string, error) {
	var out []string
	for _, p := range sortedKeys(e.Files) {
		if ig.Path(Clean(p)) {
			continue
		}
		fe := e.Files[p]
		problems, err := fe.check(fs[Clean(p)])
		if err != nil {
			return nil, fmt.Errorf("checking %s: %w", p, err)
		}
		for _, pr := range problems {
			out = append(out, fmt.Sprintf("%s: %s", p, pr))
		}
	}
	for _, p := range e.Absent {
		p = Clean(p)
		if f, ok := fs[p]; ok && !ig.Path(p) {
			out = append(out, fmt.Sprintf("%s: want absent, got %s", p, Describe(f)))
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading raw config: %w", err)
	}
	cm, err := ConfigMap(raw)
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(e.Config) {
		if ig.ConfigKey(k) {
			continue
		}
		var want any
		if err := json.Unmarshal(e.Config[k], &want); err != nil {
			return nil, fmt.Errorf("decoding expected config %s: %w", k, err)
		}
		if !ConfigEqual(k, want, cm[k]) {
			out = append(out, fmt.Sprintf("config %s: want %s, got %s", k, compactJSON(want), compactJSON(cm[k])))
		}
	}
	if len(e.Env) > 0 && !ig.ConfigKey("Env") {
		env := map[string]string{}
		for _, kv := range cf.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		for _, k := range sortedKeys(e.Env) {
			want := e.Env[k]
			got, ok := env[k]
			switch {
			case want == nil && ok:
				out = append(out, fmt.Sprintf("env %s: want unset, got %q", k, got))
			case want != nil && !ok:
				out = append(out, fmt.Sprintf("env %s: want %q, got unset", k, *want))
			case want != nil && got != *want:
				out = append(out, fmt.Sprintf("env %s: want %q, got %q", k, *want, got))
			}
		}
	}
	if len(e.Image) > 0 {
		top := map[string]any{}
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, fmt.Errorf("decoding config file: %w", err)
		}
		for _, k := range sortedKeys(e.Image) {
			var want any
			if err := json.Unmarshal(e.Image[k], &want); err != nil {
				return nil, fmt.Errorf("decoding expected image field %s: %w", k, err)
			}
			if !ConfigEqual(k, want, top[k]) {
				out = append(out, fmt.Sprintf("image %s: want %s, got %s", k, compactJSON(want), compactJSON(top[k])))
			}
		}
	}
	for _, s := range e.HistoryContains {
		if !historyHas(cf.History, s) {
			out = append(out, fmt.Sprintf("history: no entry contains %q", s))
		}
	}
	for _, s := range e.HistoryNotContains {
		if historyHas(cf.History, s) {
			out = append(out, fmt.Sprintf("history: an entry contains %q", s))
		}
	}
	if e.Layers != nil || len(e.AbsentFromLayers) > 0 || len(e.ContentAbsent) > 0 {
		problems, err := e.checkLayers(img)
		if err != nil {
			return nil, err
		}
		out = append(out, problems...)
	}
	return out, nil
}

func historyHas(hist []v1.History, s string) bool {
	for _, h := range hist {
		if strings.Contains(h.CreatedBy, s) || strings.Contains(h.Comment, s) {
			return true
		}
	}
	return false
}

func (e *Expect) checkLayers(img v1.Image) ([]string, error) {
	var out []string
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	if e.Layers != nil && len(layers) != *e.Layers {
		out = append(out, fmt.Sprintf("layers: want %d, got %d", *e.Layers, len(layers)))
	}
	if len(e.ContentAbsent) > 0 {
		raw, err := img.RawConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading raw config: %w", err)
		}
		for _, s := range e.ContentAbsent {
			if bytes.Contains(raw, []byte(s)) {
				out = append(out, fmt.Sprintf("config blob contains %q", s))
			}
		}
	}
	if len(e.AbsentFromLayers) == 0 && len(e.ContentAbsent) == 0 {
		return out, nil
	}
	for i, l := range layers {
		problems, err := e.scanLayer(i, l)
		if err != nil {
			return nil, err
		}
		out = append(out, problems...)
	}
	return out, nil
}

func (e *Expect) scanLayer(i int, l v1.Layer) ([]string, error) {
	var out []string
	err := eachEntry(l, func(h *tar.Header, r io.Reader) error {
		p := Clean(h.Name)
		dir, base := path.Split(p)
		if b, ok := strings.CutPrefix(base, ".wh."); ok && b != ".wh..opq" {
			p = Clean(dir + b)
		}
		for _, a := range e.AbsentFromLayers {
			a = Clean(a)
			if p == a || strings.HasPrefix(p, a+"/") {
				out = append(out, fmt.Sprintf("layer %d has entry %s", i, h.Name))
			}
		}
		if len(e.ContentAbsent) > 0 && h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(r)
			if err != nil {
				return fmt.Errorf("reading %s: %w", h.Name, err)
			}
			for _, s := range e.ContentAbsent {
				if bytes.Contains(data, []byte(s)) {
					out = append(out, fmt.Sprintf("layer %d: %s contains %q", i, h.Name, s))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer %d: %w", i, err)
	}
	return out, nil
}

// eachEntry calls fn with each entry of l's tar, in order, and a reader of
// its content.
func eachEntry(l v1.Layer, fn func(*tar.Header, io.Reader) error) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("opening layer: %w", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

func (fe FileExpect) check(f *File) ([]string, error) {
	if f == nil {
		return []string{"want present, got <absent>"}, nil
	}
	var out []string
	if fe.Type != "" && fe.Type != f.Type {
		out = append(out, fmt.Sprintf("type: want %s, got %s", fe.Type, f.Type))
	}
	if fe.Mode != "" {
		want, err := strconv.ParseInt(fe.Mode, 8, 64)
		if err != nil {
			return nil, fmt.Errorf("parsing mode %q: %w", fe.Mode, err)
		}
		if want != f.Mode {
			out = append(out, fmt.Sprintf("mode: want %04o, got %04o", want, f.Mode))
		}
	}
	if fe.UID != nil && *fe.UID != f.UID {
		out = append(out, fmt.Sprintf("uid: want %d, got %d", *fe.UID, f.UID))
	}
	if fe.GID != nil && *fe.GID != f.GID {
		out = append(out, fmt.Sprintf("gid: want %d, got %d", *fe.GID, f.GID))
	}
	if fe.Content != nil {
		if int64(len(f.Content)) != f.Size || string(f.Content) != *fe.Content {
			out = append(out, fmt.Sprintf("content: want %q, got %s", *fe.Content, contentSummary(f)))
		}
	}
	for _, m := range []struct {
		re   string
		want bool
	}{{fe.Matches, true}, {fe.NotMatches, false}} {
		if m.re == "" {
			continue
		}
		re, err := regexp.Compile(m.re)
		if err != nil {
			return nil, fmt.Errorf("compiling %q: %w", m.re, err)
		}
		if re.Match(f.Content) != m.want {
			verb := "match"
			if !m.want {
				verb = "not match"
			}
			out = append(out, fmt.Sprintf("content: want to %s /%s/, got %q", verb, m.re, f.Content))
		}
	}
	if fe.Size != nil && *fe.Size != f.Size {
		out = append(out, fmt.Sprintf("size: want %d, got %d", *fe.Size, f.Size))
	}
	if fe.SHA256 != "" && fe.SHA256 != f.SHA256 {
		out = append(out, fmt.Sprintf("sha256: want %s, got %s", fe.SHA256, f.SHA256))
	}
	if fe.Target != nil && *fe.Target != f.Target {
		out = append(out, fmt.Sprintf("target: want %q, got %q", *fe.Target, f.Target))
	}
	for _, l := range fe.LinkedWith {
		l = Clean(l)
		found := false
		for _, m := range f.Links {
			found = found || m == l
		}
		if !found {
			out = append(out, fmt.Sprintf("hardlinks: want a link to %s, got %v", l, f.Links))
		}
	}
	for _, k := range sortedKeys(fe.Xattrs) {
		want, err := hex.DecodeString(fe.Xattrs[k])
		if err != nil {
			return nil, fmt.Errorf("decoding xattr %s: %w", k, err)
		}
		if got, ok := f.Xattrs[k]; !ok || got != string(want) {
			out = append(out, fmt.Sprintf("xattr %s: want %x, got %x (present: %v)", k, want, got, ok))
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
