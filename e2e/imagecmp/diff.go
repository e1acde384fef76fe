package imagecmp

import (
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Ignore selects what a comparison leaves out. Each field names inherent
// differences explicitly; nothing else is left out.
type Ignore struct {
	// Paths are absolute path patterns (path.Match syntax: "/etc/x",
	// "/vol/*"); one ending in "/**" leaves out the directory before it and
	// everything under it.
	Paths []string
	// Config are keys of ConfigKeys (or "Author").
	Config []string
	// ModTimes are path patterns, as Paths, whose modification times are
	// not compared (everything else about them is).
	ModTimes []string
	// History leaves out the created_by of history entries (their number,
	// order and empty_layer flags are still compared).
	History bool
}

// Path reports whether p is left out.
func (ig Ignore) Path(p string) bool { return matchAny(ig.Paths, p) }

// ModTime reports whether p's modification time is left out.
func (ig Ignore) ModTime(p string) bool { return matchAny(ig.ModTimes, p) }

func matchAny(patterns []string, p string) bool {
	for _, q := range patterns {
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

// Times tells how modification times compare. A time that IsBuildTime
// (stamped while the builds ran: what a RUN or a created directory gets)
// equals any other such time; every other time must match to the second.
// A nil IsBuildTime compares all times exactly.
type Times struct {
	IsBuildTime func(time.Time) bool
}

func (tm Times) describe(t time.Time) string {
	if tm.IsBuildTime != nil && tm.IsBuildTime(t) {
		return "build-time"
	}
	return t.UTC().Format(time.RFC3339)
}

// DiffFS lists the differences between two file trees as
// "path: what aName=... bName=..." lines, sorted by path. It leaves
// modification times out (two builds of one step differ there); Compare
// compares them.
func DiffFS(aName string, a FS, bName string, b FS, ig Ignore) []string {
	return diffFS(aName, a, bName, b, ig, nil)
}

// diffFS is DiffFS that compares modification times as tm says, unless
// tm is nil.
func diffFS(aName string, a FS, bName string, b FS, ig Ignore, tm *Times) []string {
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
		diffs := diffFile(fa, fb)
		if tm != nil && fa.Type == fb.Type && !ig.ModTime(p) {
			if x, y := tm.describe(fa.ModTime), tm.describe(fb.ModTime); x != y {
				diffs = append(diffs, fieldDiff{"mtime", x, y})
			}
		}
		for _, d := range diffs {
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
// and Architecture. A missing key equals null, an empty list or map and
// the zero value; inside a value, maps keyed by data (ExposedPorts,
// Volumes, Labels, a list's elements) compare exactly, an empty value being
// a value. Working on the raw JSON keeps fields that go-containerregistry's
// types lack (Healthcheck.StartInterval, for one).
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
		if !ConfigEqual(k, am[k], bm[k]) {
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

// ConfigEqual compares two decoded values of the config key k. null, "",
// false, 0, [] and {} are equal: that is how "unset" gets written by
// different tools. Below that, values compare exactly (a label or port with
// an empty value is there), except that a missing member of Healthcheck,
// a struct, equals its zero value.
func ConfigEqual(k string, a, b any) bool {
	if isEmpty(a) && isEmpty(b) {
		return true
	}
	if k == "Healthcheck" {
		a, b = dropZeroMembers(a), dropZeroMembers(b)
	}
	return reflect.DeepEqual(a, b)
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

// dropZeroMembers drops the zero members of a struct's JSON object.
func dropZeroMembers(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, e := range m {
		if !isEmpty(e) {
			out[k] = e
		}
	}
	return out
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
