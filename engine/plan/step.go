package plan

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Step is one instruction of a stage, expanded: a *Config, *Workdir, *Run
// or *Copy.
type Step interface {
	At() Origin
}

// Origin is where a step comes from.
type Origin struct {
	Location []parser.Range
	// Text is the instruction after expansion, for progress lines; ""
	// for a step the Dockerfile does not spell (the base's ONBUILD
	// triggers being cleared).
	Text string
}

func (o Origin) At() Origin { return o }

// Config edits the image config and makes no layer.
type Config struct {
	Origin
	// History is the step's history entry, "" for none (ONBUILD).
	History string
	// Edit changes the config; nil for a step that only records (ARG).
	Edit func(*v1.ConfigFile)
	// Raw changes fields that ggcr's config type lacks, applied to the
	// config as JSON when the image is made; nil for none.
	Raw func(map[string]any)
}

// Workdir sets the working directory and, unless it is /, creates it
// with its parents, owned by the config's user.
type Workdir struct {
	Origin
	Path   string
	Create bool
	// Env is what RUN would see here, part of the step's cache key.
	Env []string
}

// Run runs a command in the stage's filesystem.
type Run struct {
	Origin
	Command *instructions.RunCommand
	// Args is the argv: shell form joined and given to the shell.
	Args []string
	// Script is a heredoc with a shebang that Args runs as a file under
	// /dev/pipes; nil for none.
	Script *Script
	// Env are the config's variables and the stage's ARGs; Proxy are
	// proxy build args the stage did not declare, passed to the command
	// but part of neither the history nor the cache key.
	Env, Proxy []string
	History    string
}

// Script is a heredoc run as a file.
type Script struct{ Name, Data string }

// Copy is COPY or ADD.
type Copy struct {
	Origin
	instructions.SourcesAndDest
	// From is --from: a stage, an image, or "" for the context.
	From         string
	Chown, Chmod string
	Excludes     []string
	Parents      bool
	Link         bool
	// Add, Unpack and Checksum are ADD's.
	Add, Unpack bool
	Checksum    string
	History     string
}
