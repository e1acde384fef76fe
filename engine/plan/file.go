package plan

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// File is a parsed Dockerfile: its stages' instructions, not yet expanded.
type File struct {
	Name     string
	Escape   rune
	Stages   []instructions.Stage
	MetaArgs []instructions.ArgCommand
	// nodes are each stage's instruction nodes, parsed again for each
	// plan: expansion rewrites a command in place.
	nodes [][]*parser.Node
}

// Error is a Dockerfile error with the source range it is about.
type Error struct {
	File  string
	Range []parser.Range // empty when the error is about the whole file
	Err   error
}

func (e *Error) Error() string {
	if l := e.Line(); l > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, l, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Line is the first line the error is about, 0 for none.
func (e *Error) Line() int {
	if len(e.Range) == 0 {
		return 0
	}
	return e.Range[0].Start.Line
}

// At wraps err with the file name and loc, the source range it is about
// (as BuildKit's parser.WithLocation). An error that already has a range
// keeps it.
func At(file string, loc []parser.Range, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	// The parser's location wrapper repeats what Error prints.
	var el *parser.LocationError
	if errors.As(err, &el) {
		if len(loc) == 0 && len(el.Locations) > 0 {
			loc = el.Locations[0]
		}
		if el.Unwrap() != nil {
			err = el.Unwrap()
		}
	}
	return &Error{File: file, Range: loc, Err: err}
}

// Parse parses src, named name in errors.
func Parse(name string, src []byte) (*File, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, &Error{File: name, Err: errors.New("the Dockerfile is empty")}
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, At(name, nil, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, At(name, nil, err)
	}
	if len(stages) == 0 {
		return nil, &Error{File: name, Err: errors.New("no FROM instruction: nothing to build")}
	}
	f := &File{Name: name, Escape: res.EscapeToken, Stages: stages, MetaArgs: metaArgs}
	for _, n := range res.AST.Children {
		switch {
		case strings.EqualFold(n.Value, "from"):
			f.nodes = append(f.nodes, nil)
		case len(f.nodes) > 0:
			f.nodes[len(f.nodes)-1] = append(f.nodes[len(f.nodes)-1], n)
		}
	}
	for _, st := range stages {
		for _, c := range st.Commands {
			if c, ok := c.(*instructions.CopyCommand); ok && strings.Contains(c.From, "$") {
				// As BuildKit; a stage name cannot be computed.
				return nil, At(name, c.Location(), fmt.Errorf("COPY --from=%s: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround", c.From))
			}
		}
	}
	return f, nil
}

// parseTrigger parses an ONBUILD trigger of a base image.
func parseTrigger(line string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(line + "\n"))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("invalid ONBUILD trigger %q", line)
	}
	return instructions.ParseCommand(res.AST.Children[0])
}
