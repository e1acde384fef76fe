package catalog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestYAMLKeepsMeaningfulEmptyValues(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"creationTimestamp": nil},
		"spec": map[string]any{
			"emptyDir": map[string]any{},
			"default":  []any{},
			"value":    "",
			"name":     "",
			"status":   map[string]any{"startedAt": nil},
		},
	}
	out, err := YAML(obj)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	want := GeneratedHeader + "spec:\n  default: []\n  emptyDir: {}\n  value: \"\"\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestStaleReportsMissingDifferentAndExtraFiles(t *testing.T) {
	root := t.TempDir()
	files := Files{"out/a.yaml": []byte("a\n"), "out/b.yaml": []byte("b\n"), "out/run.sh": []byte("#!/bin/sh\n")}
	if err := files.Write(root); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(root, "out/run.sh")); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("run.sh is not executable: %v %v", info, err)
	}
	if stale, err := files.Stale(root, "out"); err != nil || len(stale) != 0 {
		t.Fatalf("fresh tree reported stale: %v %v", stale, err)
	}
	must(t, os.Remove(filepath.Join(root, "out/a.yaml")))
	must(t, os.WriteFile(filepath.Join(root, "out/b.yaml"), []byte("changed\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "out/old.yaml"), []byte("old\n"), 0o644))
	stale, err := files.Stale(root, "out")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"out/a.yaml: missing", "out/b.yaml: differs", "out/old.yaml: not generated"}
	if !slices.Equal(stale, want) {
		t.Errorf("stale = %v, want %v", stale, want)
	}
	if err := files.Add("out/a.yaml", nil); err == nil || !strings.Contains(err.Error(), "already generated") {
		t.Errorf("adding a path twice: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
