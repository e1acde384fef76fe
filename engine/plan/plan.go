// Package plan says what a Dockerfile means for one build: its stages,
// which of them the target needs, and each stage's steps with variables
// expanded. It does no I/O and starts no goroutines; the engine runs the
// steps it returns.
package plan

import (
	"fmt"
	"slices"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Options are the build's inputs to the plan.
type Options struct {
	// BuildArgs are --build-arg values, taken from the environment
	// already where a flag gave only a name.
	BuildArgs map[string]string
	// Target is the stage to build; empty means the last one.
	Target string
	// Platform is the target platform; BuildPlatform is this machine's.
	Platform, BuildPlatform v1.Platform
}

// Plan is a Dockerfile planned for one build.
type Plan struct {
	File   *File
	Stages []*Stage
	// Target is the index of the stage to build.
	Target int
	// Needed are the stages the target needs, in build order.
	Needed []int
	// Uses counts, per stage, the needed stages that read it or start
	// from it. A stage that does both counts twice, so that it is never
	// handed over to the stage that starts from it.
	Uses map[int]int
	// Final are the stages whose layers end up in the image: the target
	// and the stages it is FROM, in turn.
	Final map[int]bool
	// GlobalArgs are the ARGs before the first FROM and the platform
	// ARGs, KEY=VALUE, after --build-arg.
	GlobalArgs []string
	// Platform is the target platform, which COPY --from=image pulls.
	Platform v1.Platform

	buildArgs map[string]string
}

// Stage is one FROM and what follows it.
type Stage struct {
	Index int
	// Name is the stage's AS name, "" for none.
	Name string
	// Base is the FROM name after expansion: an image, a stage or scratch.
	Base string
	// Parent is the earlier stage the stage is FROM, -1 for an image or
	// scratch.
	Parent int
	// Platform is FROM --platform, or the build's target platform.
	Platform v1.Platform
	// Reads are the earlier stages whose files its steps read (COPY
	// --from, RUN --mount from=), each once.
	Reads    []int
	Location []parser.Range
}

// New plans f for a build as opt says.
func New(f *File, opt Options) (*Plan, error) {
	p := &Plan{File: f, Platform: opt.Platform, buildArgs: opt.BuildArgs, Uses: map[int]int{}, Final: map[int]bool{}}
	if err := p.globalArgs(opt); err != nil {
		return nil, err
	}
	env := shell.EnvsFromSlice(p.GlobalArgs)
	lex := shell.NewLex(f.Escape)
	for i, st := range f.Stages {
		s, err := p.stage(lex, env, i, st, opt.Platform)
		if err != nil {
			return nil, At(f.Name, st.Location, err)
		}
		p.Stages = append(p.Stages, s)
	}
	var err error
	if p.Target, err = p.target(opt.Target); err != nil {
		return nil, err
	}
	p.Needed = p.needed(p.Target)
	for t := p.Target; t >= 0; t = p.Stages[t].Parent {
		p.Final[t] = true
	}
	for _, i := range p.Needed {
		s := p.Stages[i]
		for _, d := range p.Deps(i) {
			p.Uses[d]++
		}
		if s.Parent >= 0 && slices.Contains(s.Reads, s.Parent) {
			p.Uses[s.Parent]++
		}
	}
	return p, nil
}

func (p *Plan) stage(lex *shell.Lex, env shell.EnvGetter, i int, st instructions.Stage, target v1.Platform) (*Stage, error) {
	s := &Stage{Index: i, Name: st.Name, Parent: -1, Platform: target, Location: st.Location}
	name, _, err := lex.ProcessWord(st.BaseName, env)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("base name (%s) should not be blank", st.BaseName)
	}
	s.Base = name
	if j, ok := p.StageIndex(name); ok && j < i {
		s.Parent = j
	}
	if st.Platform != "" {
		v, _, err := lex.ProcessWord(st.Platform, env)
		if err != nil {
			return nil, err
		}
		if s.Platform, err = ParsePlatform(v); err != nil {
			return nil, fmt.Errorf("FROM --platform=%s: %w", st.Platform, err)
		}
	}
	s.Reads = p.reads(i, st)
	return s, nil
}

// ParsePlatform parses os/arch[/variant], both os and arch required.
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, err
	}
	if p.OS == "" || p.Architecture == "" {
		return v1.Platform{}, fmt.Errorf("platform %q is not os/arch[/variant]", s)
	}
	return *p, nil
}

// FormatPlatform is the os/arch[/variant] spelling of p.
func FormatPlatform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// globalArgs sets the platform ARGs, then the ARGs before the first FROM,
// a --build-arg winning over a default.
func (p *Plan) globalArgs(opt Options) error {
	b, t := opt.BuildPlatform, opt.Platform
	for _, kv := range [][2]string{
		{"BUILDPLATFORM", FormatPlatform(b)}, {"BUILDOS", b.OS}, {"BUILDARCH", b.Architecture}, {"BUILDVARIANT", b.Variant},
		{"TARGETPLATFORM", FormatPlatform(t)}, {"TARGETOS", t.OS}, {"TARGETARCH", t.Architecture}, {"TARGETVARIANT", t.Variant},
	} {
		v := kv[1]
		if o, ok := opt.BuildArgs[kv[0]]; ok {
			v = o
		}
		p.GlobalArgs = append(p.GlobalArgs, kv[0]+"="+v)
	}
	lex := shell.NewLex(p.File.Escape)
	for _, cmd := range p.File.MetaArgs {
		for _, kv := range cmd.Args {
			if v, ok := opt.BuildArgs[kv.Key]; ok {
				p.GlobalArgs = SetEnv(p.GlobalArgs, kv.Key, v)
			} else if kv.Value != nil {
				v, _, err := lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(p.GlobalArgs))
				if err != nil {
					return At(p.File.Name, cmd.Location(), err)
				}
				p.GlobalArgs = SetEnv(p.GlobalArgs, kv.Key, v)
			}
		}
	}
	return nil
}

// StageIndex finds a stage by name (case-insensitive) or by number.
func (p *Plan) StageIndex(ref string) (int, bool) {
	if i, ok := instructions.HasStage(p.File.Stages, ref); ok {
		return i, true
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < len(p.File.Stages) {
		return n, true
	}
	return -1, false
}

func (p *Plan) target(name string) (int, error) {
	if name == "" {
		return len(p.Stages) - 1, nil
	}
	i, ok := instructions.HasStage(p.File.Stages, name)
	if !ok {
		return 0, fmt.Errorf("target stage %q could not be found", name)
	}
	return i, nil
}

// reads lists the earlier stages stage i's steps read, each once.
func (p *Plan) reads(i int, st instructions.Stage) []int {
	var out []int
	add := func(ref string) {
		if j, ok := p.StageIndex(ref); ok && j < i && !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	for _, c := range st.Commands {
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

// deps are the stages stage i needs built first: its parent and those
// it reads.
func (p *Plan) Deps(i int) []int {
	s := p.Stages[i]
	var out []int
	if s.Parent >= 0 {
		out = append(out, s.Parent)
	}
	for _, j := range s.Reads {
		if !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out
}

// needed lists the stages target needs, itself included, in order.
func (p *Plan) needed(target int) []int {
	need := map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, d := range p.Deps(i) {
			visit(d)
		}
	}
	visit(target)
	var out []int
	for i := range p.Stages {
		if need[i] {
			out = append(out, i)
		}
	}
	return out
}
