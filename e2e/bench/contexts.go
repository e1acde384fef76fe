//go:build linux

package main

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// allContexts are the contexts under contexts/, in report order.
var allContexts = []string{"tiny", "apt", "manyfiles", "bigfile", "multistage", "parallel"}

var placeholder = regexp.MustCompile(`\{\{([a-z]+)\}\}`)

// prepareContext copies contexts/<name> to dst with the base image
// placeholders of its Dockerfile replaced by references into the local
// registry, and generates what the context does not commit.
func prepareContext(src, dst string, b bases) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type().IsRegular():
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if rel == "Dockerfile" {
				var missing []string
				body = placeholder.ReplaceAllFunc(body, func(m []byte) []byte {
					key := string(m[2 : len(m)-2])
					ref, ok := b[key]
					if !ok {
						missing = append(missing, key)
					}
					return []byte(ref)
				})
				if len(missing) > 0 {
					return fmt.Errorf("%s: no base image for {{%s}}", p, strings.Join(missing, "}}, {{"))
				}
			}
			return os.WriteFile(out, body, info.Mode().Perm())
		}
		return fmt.Errorf("%s: only directories and regular files belong in a bench context", p)
	})
	if err != nil {
		return fmt.Errorf("preparing context %s: %w", filepath.Base(src), err)
	}
	if filepath.Base(src) == "manyfiles" {
		return generateFiles(filepath.Join(dst, "files"), manyFiles, manyDirs)
	}
	return nil
}

// The manyfiles context: 20,000 files in 200 directories, about 200 MB.
const (
	manyFiles = 20000
	manyDirs  = 200
)

// generateFiles writes n files spread over dirs directories under root.
// Sizes are uniform in [0, 20 KiB) (10 KiB on average, ~205 MB for
// 20,000); contents are lines of words drawn from a fixed vocabulary by a
// PRNG seeded with the file's index: the same bytes on every machine,
// compressible like text (gzip keeps about a third).
func generateFiles(root string, n, dirs int) error {
	vocab := vocabulary()
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i%dirs))
		if i < dirs {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		rng := rand.New(rand.NewPCG(uint64(i), 0x6b622d62656e6368))
		body := words(rng, vocab, rng.IntN(20<<10))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)), body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// vocabulary is 1,024 made-up words of 2 to 10 letters, always the same.
func vocabulary() []string {
	rng := rand.New(rand.NewPCG(0, 0))
	vocab := make([]string, 1024)
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		vocab[i] = string(w)
	}
	return vocab
}

// words is size bytes of words from vocab, lines of about 72 characters.
func words(rng *rand.Rand, vocab []string, size int) []byte {
	out := make([]byte, 0, size+16)
	line := 0
	for len(out) < size {
		w := vocab[rng.IntN(len(vocab))]
		out = append(out, w...)
		line += len(w) + 1
		if line > 72 {
			out = append(out, '\n')
			line = 0
		} else {
			out = append(out, ' ')
		}
	}
	return out[:size]
}
