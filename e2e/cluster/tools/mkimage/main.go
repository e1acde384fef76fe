//go:build cluster

// Command mkimage makes the images the cluster test runs, offline, and
// pushes them to a registry over plain HTTP:
//
//	mkimage busybox DEST                   the e2e busybox (package baseimage)
//	mkimage image [flags] DEST [SRC=DST]... a base image plus files
//
// Credentials for the registry come from $REG_USER and $REG_PASS.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func opts() []remote.Option {
	o := []remote.Option{remote.WithContext(context.Background())}
	if u := os.Getenv("REG_USER"); u != "" {
		o = append(o, remote.WithAuth(&authn.Basic{Username: u, Password: os.Getenv("REG_PASS")}))
	}
	return o
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: mkimage busybox|image ...")
	}
	switch args[0] {
	case "busybox":
		fs := flag.NewFlagSet("busybox", flag.ContinueOnError)
		user := fs.String("user", "", "USER of the image")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("busybox: want one destination")
		}
		img, err := baseimage.Busybox()
		if err != nil {
			return err
		}
		if *user != "" {
			cfg, err := img.ConfigFile()
			if err != nil {
				return err
			}
			cfg = cfg.DeepCopy()
			cfg.Config.User = *user
			if img, err = mutate.ConfigFile(img, cfg); err != nil {
				return err
			}
		}
		return push(img, fs.Arg(0))
	case "image":
		fs := flag.NewFlagSet("image", flag.ContinueOnError)
		user := fs.String("user", "", "USER of the image")
		entrypoint := fs.String("entrypoint", "", "ENTRYPOINT, comma-separated")
		base := fs.Bool("base", false, "add CA certificates, /etc/passwd, /etc/group and /tmp")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) < 1 {
			return fmt.Errorf("image: no destination")
		}
		return image(rest[0], rest[1:], *user, *entrypoint, *base)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func push(img v1.Image, dest string) error {
	ref, err := name.ParseReference(dest, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, opts()...); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d.String())
	return nil
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func image(dest string, files []string, user, entrypoint string, base bool) error {
	var ents []entry
	dirs := map[string]bool{}
	var mkdirs func(p string)
	mkdirs = func(p string) {
		if p == "/" || p == "." || dirs[p] {
			return
		}
		mkdirs(path.Dir(p))
		dirs[p] = true
		ents = append(ents, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: 0o755, ModTime: baseimage.Epoch()}})
	}
	add := func(p string, mode int64, body []byte) {
		mkdirs(path.Dir(p))
		ents = append(ents, entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(body)), ModTime: baseimage.Epoch()}, body: body})
	}
	if base {
		certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
		if err != nil {
			return err
		}
		add("/etc/ssl/certs/ca-certificates.crt", 0o644, certs)
		add("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nargo:x:8737:8737:argo:/home/argo:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"))
		add("/etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\nargo:x:8737:\nnogroup:x:65534:\n"))
		dirs["/tmp"] = true
		ents = append(ents, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: baseimage.Epoch()}})
		mkdirs("/home/nonroot")
	}
	for _, f := range files {
		src, dst, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("%q: want SRC=DST", f)
		}
		body, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		add(dst, 0o755, body)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
		if _, err := tw.Write(e.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return err
	}
	cfg := &v1.ConfigFile{
		Architecture: "amd64", OS: "linux", Created: v1.Time{Time: baseimage.Epoch()},
		RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}, User: user},
	}
	if entrypoint != "" {
		cfg.Config.Entrypoint = strings.Split(entrypoint, ",")
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: baseimage.Epoch()}, CreatedBy: "kaniko-build e2e/cluster mkimage"}})
	if err != nil {
		return err
	}
	return push(img, dest)
}
