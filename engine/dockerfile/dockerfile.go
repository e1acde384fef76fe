// Package dockerfile turns a Dockerfile into a build plan with buildkit's
// own parser: stages, global ARGs, and which stages the target needs.
package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// File is a parsed Dockerfile.
type File struct {
	Name     string
	Stages   []instructions.Stage
	MetaArgs []instructions.ArgCommand
	Escape   rune
}

// Error is a Dockerfile error with the line it is about.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// At wraps err with the file name and the first line of loc.
func At(file string, loc []parser.Range, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	line := 0
	if len(loc) > 0 {
		line = loc[0].Start.Line
	}
	var el *parser.LocationError
	if line == 0 && errors.As(err, &el) && len(el.Locations) > 0 && len(el.Locations[0]) > 0 {
		line = el.Locations[0][0].Start.Line
	}
	return &Error{File: file, Line: line, Err: stripLocation(err)}
}

// stripLocation drops buildkit's location wrapper, whose text repeats ours.
func stripLocation(err error) error {
	var el *parser.LocationError
	if errors.As(err, &el) && el.Unwrap() != nil {
		return el.Unwrap()
	}
	return err
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
	for _, st := range stages {
		for _, c := range st.Commands {
			if c, ok := c.(*instructions.CopyCommand); ok && strings.Contains(c.From, "$") {
				// As BuildKit; a stage name cannot be computed.
				return nil, At(name, c.Location(), fmt.Errorf("COPY --from=%s: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround", c.From))
			}
		}
	}
	return &File{Name: name, Stages: stages, MetaArgs: metaArgs, Escape: res.EscapeToken}, nil
}

// Lexer returns the word expander for this file's escape character.
func (f *File) Lexer() *shell.Lex {
	return shell.NewLex(f.Escape)
}

// StageIndex finds a stage by name (case-insensitive) or by number.
func (f *File) StageIndex(ref string) (int, bool) {
	if i, ok := instructions.HasStage(f.Stages, ref); ok {
		return i, true
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < len(f.Stages) {
		return n, true
	}
	return -1, false
}

// Target returns the index of the stage to build.
func (f *File) Target(name string) (int, error) {
	if name == "" {
		return len(f.Stages) - 1, nil
	}
	i, ok := instructions.HasStage(f.Stages, name)
	if !ok {
		return 0, fmt.Errorf("target stage %q could not be found", name)
	}
	return i, nil
}

// Deps returns, for stage i, the earlier stages it reads from: its base
// (when the base names a stage) and COPY --from / RUN --mount from=.
// baseNames are the stages' base names after ARG expansion.
func (f *File) Deps(i int, baseNames []string) []int {
	var out []int
	if j, ok := f.StageIndex(baseNames[i]); ok && j < i {
		out = append(out, j)
	}
	for _, j := range f.Reads(i) {
		if !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out
}

// Reads returns the earlier stages whose files stage i reads in its steps
// (COPY --from, RUN --mount from=), each once.
func (f *File) Reads(i int) []int {
	var out []int
	add := func(ref string) {
		if j, ok := f.StageIndex(ref); ok && j < i && !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	for _, c := range f.Stages[i].Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				add(c.From)
			}
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(c) {
				if m.From != "" {
					add(m.From)
				}
			}
		}
	}
	return out
}

// Needed returns which stages the target needs, in order.
func (f *File) Needed(target int, baseNames []string) []int {
	need := map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, d := range f.Deps(i, baseNames) {
			visit(d)
		}
	}
	visit(target)
	var out []int
	for i := range f.Stages {
		if need[i] {
			out = append(out, i)
		}
	}
	return out
}

// ParseInstruction parses one instruction line, as found in ONBUILD
// triggers.
func ParseInstruction(name, line string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(line + "\n"))
	if err != nil {
		return nil, At(name, nil, err)
	}
	if len(res.AST.Children) != 1 {
		return nil, &Error{File: name, Err: fmt.Errorf("invalid ONBUILD trigger %q", line)}
	}
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return nil, At(name, nil, err)
	}
	return cmd, nil
}
