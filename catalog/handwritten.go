package catalog

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// HandWritten are files written by hand that name the released images: the
// generator rewrites their `image:` lines from the release and leaves the
// rest alone.
var HandWritten = []string{
	"examples/kubernetes/pod.yaml",
	"examples/kubernetes/job.yaml",
	"examples/kubernetes/job-push.yaml",
	"examples/jenkins/Jenkinsfile",
	"examples/jenkins/values.yaml",
}

// imageLine is an `image:` line naming an executor image: a repository
// ending in /executor, with a tag and maybe a digest.
var imageLine = regexp.MustCompile(`(?m)^(\s*image:\s*)(\S+/executor:[^\s@]+(?:@\S+)?)\s*$`)

// RenderImages points every executor image of a hand-written file at r: a
// tag ending in "debug" gets r.Debug, any other r.Executor. A file without
// such a line is an error, so that a rewritten example is not silently left
// behind.
func RenderImages(path string, content []byte, r Release) ([]byte, error) {
	n := 0
	out := imageLine.ReplaceAllFunc(content, func(line []byte) []byte {
		m := imageLine.FindSubmatch(line)
		n++
		repoTag, _, _ := strings.Cut(string(m[2]), "@")
		ref := r.Executor
		if strings.HasSuffix(repoTag, "debug") {
			ref = r.Debug
		}
		return append(append([]byte{}, m[1]...), ref...)
	})
	if n == 0 {
		return nil, fmt.Errorf("%s: no `image: .../executor:TAG` line to render", path)
	}
	return out, nil
}

// The README's block between these lines lists the released images.
const (
	readmeBegin = "<!-- release: written by `make release` / `make catalog` from catalog/release.json; do not edit -->\n"
	readmeEnd   = "<!-- /release -->\n"
)

// RenderREADME rewrites the release block of README.md from r.
func RenderREADME(content []byte, r Release) ([]byte, error) {
	begin := bytes.Index(content, []byte(readmeBegin))
	end := bytes.Index(content, []byte(readmeEnd))
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("README.md: no release block (%q ... %q)", strings.TrimSpace(readmeBegin), strings.TrimSpace(readmeEnd))
	}
	var b bytes.Buffer
	b.Write(content[:begin+len(readmeBegin)])
	if r.Released() {
		fmt.Fprintf(&b, "The images of release %s, each an index for linux/amd64 and linux/arm64:\n\n", r.Version)
	} else {
		fmt.Fprintf(&b, "No release has been made from this tree yet: the digests below are all\n"+
			"zeros and nothing can pull these images. `make release` writes real ones.\n\n")
	}
	b.WriteString("| image | reference |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| executor (the catalog's default) | `%s` |\n", r.Executor)
	fmt.Fprintf(&b, "| executor with busybox and the warmer (Kaniko's `:debug`) | `%s` |\n", r.Debug)
	fmt.Fprintf(&b, "| warmer | `%s` |\n", r.Warmer)
	b.Write(content[end:])
	return b.Bytes(), nil
}
