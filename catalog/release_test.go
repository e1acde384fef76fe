package catalog

import (
	"strings"
	"testing"
)

func TestCommittedReleaseParses(t *testing.T) {
	r := Current()
	if r.Executor != BuilderImage() || r.Version == "" {
		t.Fatalf("release.json: %+v", r)
	}
}

func TestParseReleaseRefusesWhatCannotBePinned(t *testing.T) {
	d := "@sha256:" + strings.Repeat("a", 64)
	good := `{"version":"v1","executor":"r.example/t/executor:v1` + d + `","debug":"r.example/t/executor:v1-debug` + d + `","warmer":"r.example/t/warmer:v1` + d + `"}`
	r, err := ParseRelease([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Released() {
		t.Error("a real digest counts as unreleased")
	}
	for name, bad := range map[string]string{
		"no digest":     strings.Replace(good, "executor:v1"+d, "executor:v1", 1),
		"no tag":        strings.Replace(good, "executor:v1"+d, "executor"+d, 1),
		"other version": strings.Replace(good, "warmer:v1", "warmer:v2", 1),
		"debug tag":     strings.Replace(good, "v1-debug", "debug", 1),
		"unknown field": strings.Replace(good, `"version"`, `"bundle":"x","version"`, 1),
		"short digest":  strings.Replace(good, d, "@sha256:abc", 1),
	} {
		if _, err := ParseRelease([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

func TestRenderImagesPicksTheVariantByTag(t *testing.T) {
	d := "@sha256:" + strings.Repeat("b", 64)
	r := Release{Version: "v2", Executor: "reg:5000/t/executor:v2" + d, Debug: "reg:5000/t/executor:v2-debug" + d, Warmer: "reg:5000/t/warmer:v2" + d}
	in := "a:\n  image: old.example/executor:v1\n  other: x\n    image: old.example/x/executor:v1-debug@sha256:" + strings.Repeat("0", 64) + "\n  image: busybox:1\n"
	got, err := RenderImages("f", []byte(in), r)
	if err != nil {
		t.Fatal(err)
	}
	want := "a:\n  image: " + r.Executor + "\n  other: x\n    image: " + r.Debug + "\n  image: busybox:1\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := RenderImages("f", []byte("image: busybox:1\n"), r); err == nil {
		t.Error("a file without our image rendered without error")
	}
}

func TestRenderREADMEReplacesOnlyTheBlock(t *testing.T) {
	in := "# t\n\n" + readmeBegin + "old\n" + readmeEnd + "\nrest\n"
	got, err := RenderREADME([]byte(in), Current())
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	if !strings.HasPrefix(s, "# t\n\n"+readmeBegin) || !strings.HasSuffix(s, readmeEnd+"\nrest\n") ||
		strings.Contains(s, "old\n") || !strings.Contains(s, "`"+Current().Warmer+"`") {
		t.Errorf("rendered:\n%s", s)
	}
	if _, err := RenderREADME([]byte("# t\n"), Current()); err == nil {
		t.Error("a README without the block rendered without error")
	}
}
