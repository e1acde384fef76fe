package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// copyCredentials is `executor copy-credentials FROM TO`: the catalog's
// first step copies the docker config from the credentials workspace
// (read-only, mounted in that step alone) to a directory of the build
// step's own, which --consume-credentials then empties before any RUN.
// An empty or missing FROM copies nothing: anonymous access.
func copyCredentials(args []string, stderr io.Writer) int {
	if len(args) != 2 || args[1] == "" {
		fmt.Fprintln(stderr, "error: usage: executor copy-credentials FROM TO")
		return exitUsage
	}
	from, to := args[0], args[1]
	if err := os.MkdirAll(to, 0o700); err != nil {
		fmt.Fprintf(stderr, "error: copy-credentials: %v\n", err)
		return exitBuild
	}
	copied := 0
	// The docker config, as a file or as a kubernetes.io/dockerconfigjson
	// Secret's key.
	for _, name := range []string{"config.json", ".dockerconfigjson"} {
		if from == "" {
			break
		}
		data, err := os.ReadFile(filepath.Join(from, name)) // a Secret's file is a symlink
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(to, name), data, 0o600)
		}
		if err != nil {
			fmt.Fprintf(stderr, "error: copy-credentials: %v\n", err)
			return exitBuild
		}
		copied++
	}
	fmt.Fprintf(stderr, "copied %d credential file(s) from %q to %s\n", copied, from, to)
	return 0
}
