package imagecmp

import (
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"
)

// Ignore selects paths and config keys that a comparison leaves out.
type Ignore struct {
	// Paths are absolute path patterns (path.Match syntax: "/etc/x",
	// "/vol/*"); one ending in "/**" leaves out the directory before it and
	// everything under it.
	Paths []string
	// Config are keys of ConfigKeys (or "Author").
	Config []string
}

// Path reports whether p is left out.
func (ig Ignore) Path(p string) bool {
	for _, q := range ig.Paths {
		if dir, ok := strings.CutSuffix(q, "/**"); ok {
			dir = Clean(dir)
			if p == dir || dir == "/" || strings.HasPrefix(p, dir+"/") {
				return true
			}
			continue
		}
		if ok, _ := path.Match(Clean(q), p); ok {
			return true
		}
	}
	return false
}

// ConfigKey reports whether the config key k is left out.
func (ig Ignore) ConfigKey(k string) bool {
	for _, q := range ig.Config {
		if q == k {
			return true
		}
	}
	return false
}

// DiffFS lists the differences between two file trees as
// "path: what aName=... bName=..." lines, sorted by path.
func DiffFS(aName string, a FS, bName string, b FS, ig Ignore) []string {
	paths := map[string]bool{}
	for p := range a {
		paths[p] = true
	}
	for p := range b {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		if !ig.Path(p) {
			sorted = append(sorted, p)
		}
	}
	sort.Strings(sorted)
	var out []string
	for _, p := range sorted {
		fa, fb := a[p], b[p]
		switch {
		case fa == nil:
			out = append(out, fmt.Sprintf("%s: %s=<absent> %s=%s", p, aName, bName, Describe(fb)))
			continue
		case fb == nil:
			out = append(out, fmt.Sprintf("%s: %s=%s %s=<absent>", p, aName, Describe(fa), bName))
			continue
		}
		for _, d := range diffFile(fa, fb) {
			out = append(out, fmt.Sprintf("%s: %s %s=%s %s=%s", p, d.what, aName, d.a, bName, d.b))
		}
	}
	return out
}

type fieldDiff struct{ what, a, b string }

func diffFile(a, b *File) []fieldDiff {
	var out []fieldDiff
	add := func(what, x, y string) {
		if x != y {
			out = append(out, fieldDiff{what, x, y})
		}
	}
	add("type", a.Type, b.Type)
	if a.Type != b.Type {
		return out
	}
	add("mode", fmt.Sprintf("%04o", a.Mode), fmt.Sprintf("%04o", b.Mode))
	add("owner", fmt.Sprintf("%d:%d", a.UID, a.GID), fmt.Sprintf("%d:%d", b.UID, b.GID))
	switch a.Type {
	case TypeFile:
		if a.SHA256 != b.SHA256 {
			add("content", contentSummary(a), contentSummary(b))
		}
	case TypeSymlink, TypeHardlink:
		add("target", a.Target, b.Target)
	case TypeChar, TypeBlock:
		add("device", fmt.Sprintf("%d,%d", a.Devmajor, a.Devminor), fmt.Sprintf("%d,%d", b.Devmajor, b.Devminor))
	}
	add("hardlinks", fmt.Sprint(a.Links), fmt.Sprint(b.Links))
	add("xattrs", formatXattrs(a.Xattrs), formatXattrs(b.Xattrs))
	return out
}

// Describe summarizes a file on one line.
func Describe(f *File) string {
	if f == nil {
		return "<absent>"
	}
	s := fmt.Sprintf("%s %04o %d:%d", f.Type, f.Mode, f.UID, f.GID)
	switch f.Type {
	case TypeFile:
		s += " " + contentSummary(f)
	case TypeSymlink, TypeHardlink:
		s += " -> " + f.Target
	}
	if len(f.Links) > 0 {
		s += fmt.Sprintf(" links=%v", f.Links)
	}
	if len(f.Xattrs) > 0 {
		s += " xattrs=" + formatXattrs(f.Xattrs)
	}
	return s
}

func contentSummary(f *File) string {
	if f.Size <= 64 && int64(len(f.Content)) == f.Size {
		return fmt.Sprintf("%dB %q", f.Size, f.Content)
	}
	return fmt.Sprintf("%dB sha256:%.12s", f.Size, f.SHA256)
}

func formatXattrs(x map[string]string) string {
	if len(x) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%x", k, x[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// ConfigKeys returns the keys of the image config (v1.Config, by their
// JSON names) that DiffConfig compares. ArgsEscaped is left out: BuildKit
// sets it on every CMD, the legacy builder only on Windows, and Linux
// runtimes ignore it.
func ConfigKeys() []string {
	return []string{
		"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts",
		"Volumes", "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild",
	}
}

// DiffConfig lists the differences between two raw image config files
// (the config blobs) in the keys of ConfigKeys plus the image's Author, OS
// and Architecture. A null value equals an empty list or map. Working on
// the raw JSON keeps fields that go-containerregistry's types lack
// (Healthcheck.StartInterval, for one).
func DiffConfig(aName string, aRaw []byte, bName string, bRaw []byte, ig Ignore) ([]string, error) {
	am, err := ConfigMap(aRaw)
	if err != nil {
		return nil, err
	}
	bm, err := ConfigMap(bRaw)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range append(ConfigKeys(), "Author", "OS", "Architecture") {
		if ig.ConfigKey(k) {
			continue
		}
		if !JSONEqual(am[k], bm[k]) {
			out = append(out, fmt.Sprintf("config %s: %s=%s %s=%s", k, aName, compactJSON(am[k]), bName, compactJSON(bm[k])))
		}
	}
	return out, nil
}

// ConfigMap decodes a raw config file and returns the keys of its
// "config" object, plus Author, OS and Architecture from the top level.
func ConfigMap(raw []byte) (map[string]any, error) {
	var top struct {
		Author       string         `json:"author"`
		OS           string         `json:"os"`
		Architecture string         `json:"architecture"`
		Config       map[string]any `json:"config"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("decoding config file: %w", err)
	}
	m := top.Config
	if m == nil {
		m = map[string]any{}
	}
	m["Author"] = top.Author
	m["OS"] = top.OS
	m["Architecture"] = top.Architecture
	return m, nil
}

// JSONEqual compares decoded JSON values, taking null, "", false, 0, []
// and {} as equal: these are how "unset" gets written by different tools.
func JSONEqual(a, b any) bool {
	if isEmpty(a) && isEmpty(b) {
		return true
	}
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// normalize drops empty members of maps, so {"a": null} equals {}.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if !isEmpty(e) {
				out[k] = normalize(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func compactJSON(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
