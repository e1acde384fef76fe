package main

import (
	"context"
	"errors"
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
	fs := pflag.NewFlagSet("executor index", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	opt.AddFlags(fs)
	lf.AddFlags(fs)
	// A build's output flags that mean nothing for an index.
	for _, name := range []string{"compression", "compression-level", "tar-path", "skip-push-permission-check"} {
		_ = fs.MarkHidden(name)
	}
	fs.Lookup("image-format").Usage = "oci (an OCI image index, the default) or docker (a Docker manifest list)"
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: executor index --image REF@DIGEST --image REF@DIGEST ... --destination REF [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments %q (every option is a flag)\n", fs.Args())
		return exitUsage
	}
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
