package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/cmd/internal/logflags"
	"github.com/kaniko-build/kaniko-build/engine"
)

// joinIndex is `executor index`: the join step of a multi-platform build
// fanned out per platform. It joins the images given by --image
// (REF@DIGEST, one per platform) into an image index, pushes it to each
// --destination and writes --digest-file and the other result files as a
// build does.
func joinIndex(ctx context.Context, args []string, stderr io.Writer) int {
	var opt engine.IndexOptions
	var lf logflags.Flags
	var imagesJSON string
	fs := pflag.NewFlagSet("executor index", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	opt.AddFlags(fs)
	lf.AddFlags(fs)
	// Argo cannot expand a list into arguments: its aggregated outputs
	// come as a JSON list, as a build's --build-args-json do.
	fs.StringVar(&imagesJSON, "images-json", "", `the images to join as a JSON list of REF@DIGEST, after the --image ones`)
	// Expanded before parsing (expandExtraArgs); declared for --help.
	fs.String("extra-args-json", "", `more flags as a JSON list, e.g. ["--insecure"], expanded in place`)
	// A build's output flags that mean nothing for an index.
	for _, name := range []string{"compression", "compression-level", "tar-path", "skip-push-permission-check"} {
		_ = fs.MarkHidden(name)
	}
	fs.Lookup("image-format").Usage = "oci (an OCI image index, the default) or docker (a Docker manifest list)"
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: executor index --image REF@DIGEST --image REF@DIGEST ... --destination REF [flags] [-- REF@DIGEST ...]")
		fs.PrintDefaults()
	}
	// Words after a lone "--" are images to join (Tekton's IMAGES array).
	rest, code, done := parseArgs(fs, args, "images", stderr)
	if done {
		return code
	}
	opt.Index.Images = append(opt.Index.Images, rest...)
	list, err := jsonList("--images-json", imagesJSON)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	opt.Index.Images = append(opt.Index.Images, list...)
	log, err := lf.Logger(stderr)
	if err == nil {
		err = opt.Finish()
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	opt.Log = log
	d, err := engine.Index(ctx, opt)
	if err != nil {
		lf.Fail(stderr, log, err)
		return exitBuild
	}
	fmt.Fprintf(os.Stdout, "%s\n", d)
	return 0
}
