package plan

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

var update = flag.Bool("update", false, "rewrite the golden .plan files")

// Each testdata/errors/NAME.Dockerfile must fail to parse with an error
// that contains the first line of NAME.err (file name and line included).
func TestParseErrorsNameFileAndLine(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.Dockerfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".Dockerfile")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".Dockerfile") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse("Dockerfile", src)
			if perr == nil {
				t.Fatal("parsed without error")
			}
			if w := strings.TrimSpace(string(want)); !strings.Contains(perr.Error(), w) {
				t.Errorf("error %q does not contain %q", perr, w)
			}
		})
	}
}

func TestErrorKeepsTheWholeRange(t *testing.T) {
	src := "FROM busybox\nRUN true\nEXPOSE \\\n  80 \\\n  nope\n"
	p := mustPlan(t, src, Options{})
	_, err := p.Steps(0, &v1.ConfigFile{})
	var e *Error
	if !asError(err, &e) {
		t.Fatalf("error %v is no *plan.Error", err)
	}
	if len(e.Range) == 0 || e.Range[0].Start.Line != 3 || e.Range[len(e.Range)-1].End.Line != 5 {
		t.Errorf("range %+v, want lines 3 to 5", e.Range)
	}
	if !strings.HasPrefix(err.Error(), "Dockerfile:3: ") {
		t.Errorf("error %q does not start with Dockerfile:3:", err)
	}
}

func TestNeededStagesAndUses(t *testing.T) {
	p := mustPlan(t, `FROM busybox AS a
FROM busybox AS unused
RUN false
FROM busybox AS c
FROM a AS b
RUN --mount=type=bind,from=c,target=/x true
COPY --from=a /a /a
FROM busybox
COPY --from=b /x /y
`, Options{})
	if want := []int{0, 2, 3, 4}; !slices.Equal(p.Needed, want) {
		t.Errorf("needed %v, want %v", p.Needed, want)
	}
	// a is b's parent and read by it: counted twice, never handed over.
	if want := map[int]int{0: 2, 2: 1, 3: 1}; fmt.Sprint(p.Uses) != fmt.Sprint(want) {
		t.Errorf("uses %v, want %v", p.Uses, want)
	}
	if want := map[int]bool{4: true}; fmt.Sprint(p.Final) != fmt.Sprint(want) {
		t.Errorf("final %v, want %v", p.Final, want)
	}
}

// Steps may be asked for twice: expansion rewrites a command in place,
// so each call must start from the parsed nodes again.
func TestStepsArePure(t *testing.T) {
	p := mustPlan(t, "FROM busybox\nENV A=1\nCOPY $A /$A\n", Options{})
	a, err := p.Steps(0, &v1.ConfigFile{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Steps(0, &v1.ConfigFile{Config: v1.Config{Env: []string{"X=y"}}})
	if err != nil {
		t.Fatal(err)
	}
	if a[1].(*Copy).DestPath != "/1" || b[1].(*Copy).DestPath != "/1" {
		t.Errorf("dest %q then %q, want /1 both times", a[1].(*Copy).DestPath, b[1].(*Copy).DestPath)
	}
	if strings.Contains(fmt.Sprint(a[1].(*Copy).SourcePaths), "$") {
		t.Errorf("sources not expanded: %v", a[1].(*Copy).SourcePaths)
	}
}

// TestGolden plans every Dockerfile of testdata/*.Dockerfile and of the
// conformance and error suites (e2e/testdata) and compares the plan's
// dump with the .plan file beside it; -update rewrites them.
func TestGolden(t *testing.T) {
	var cases []goldenCase
	own, _ := filepath.Glob("testdata/*.Dockerfile")
	for _, f := range own {
		c := goldenCase{name: strings.TrimSuffix(filepath.Base(f), ".Dockerfile"), dockerfile: f, golden: strings.TrimSuffix(f, ".Dockerfile") + ".plan"}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// "# build-arg: K=V" and "# target: NAME" lines set the options.
		for _, l := range strings.Split(string(src), "\n") {
			if v, ok := strings.CutPrefix(l, "# build-arg: "); ok {
				c.opt.BuildArgs = append(c.opt.BuildArgs, v)
			}
			if v, ok := strings.CutPrefix(l, "# target: "); ok {
				c.opt.Target = v
			}
		}
		cases = append(cases, c)
	}
	for _, suite := range []string{"conformance", "errors"} {
		dirs, _ := filepath.Glob(filepath.Join("..", "..", "e2e", "testdata", suite, "*", "case.json"))
		for _, cj := range dirs {
			dir := filepath.Dir(cj)
			c := goldenCase{name: suite + "/" + filepath.Base(dir), golden: filepath.Join("testdata", "e2e-"+suite, filepath.Base(dir)+".plan")}
			dt, err := os.ReadFile(cj)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(dt, &c.opt); err != nil {
				t.Fatalf("%s: %v", cj, err)
			}
			c.dockerfile = filepath.Join(dir, "Dockerfile")
			if c.opt.Dockerfile != "" {
				c.dockerfile = filepath.Join(dir, c.opt.Dockerfile)
			}
			cases = append(cases, c)
		}
	}
	if len(cases) < 100 {
		t.Fatalf("only %d Dockerfiles found", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := os.ReadFile(c.dockerfile)
			if err != nil {
				t.Fatal(err)
			}
			got := dump(filepath.Base(c.dockerfile), src, c.opt)
			if *update {
				if err := os.MkdirAll(filepath.Dir(c.golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(c.golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("plan of %s differs from %s (go test -update rewrites it):\n%s", c.dockerfile, c.golden, diff(string(want), got))
			}
		})
	}
}

type goldenCase struct {
	name, dockerfile, golden string
	opt                      caseOptions
}

// caseOptions are what a suite's case.json says of the plan.
type caseOptions struct {
	BuildArgs  []string `json:"buildArgs"`
	Target     string   `json:"target"`
	Dockerfile string   `json:"dockerfile"`
}

var linuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}

// template turns the suites' {{base}} names into plain image names.
var template = regexp.MustCompile(`\{\{([a-z]+)\}\}`)

// dump is the readable form of a plan: the stages the target needs and
// their steps, from a made-up config for each base image.
func dump(name string, src []byte, c caseOptions) string {
	var sb strings.Builder
	src = template.ReplaceAll(src, []byte("$1"))
	args := map[string]string{}
	for _, a := range c.BuildArgs {
		if k, v, ok := strings.Cut(a, "="); ok {
			args[k] = v
		}
	}
	f, err := Parse(name, src)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	p, err := New(f, Options{BuildArgs: args, Target: c.Target, Platform: linuxAMD64, BuildPlatform: linuxAMD64})
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	fmt.Fprintf(&sb, "target %d, needed %v, final %v, uses %v\n", p.Target, p.Needed, keys(p.Final), p.Uses)
	fmt.Fprintf(&sb, "global %q\n", p.GlobalArgs)
	finals := map[int]*v1.ConfigFile{}
	for _, i := range p.Needed {
		s := p.Stages[i]
		fmt.Fprintf(&sb, "\nstage %d %q FROM %s (parent %d) platform %s reads %v\n", i, s.Name, s.Base, s.Parent, FormatPlatform(s.Platform), s.Reads)
		cfg := baseConfig(s.Base)
		if s.Parent >= 0 {
			cfg = finals[s.Parent]
		}
		steps, err := p.Steps(i, cfg)
		if err != nil {
			fmt.Fprintf(&sb, "error: %v\n", err)
			return sb.String()
		}
		cfg = cfg.DeepCopy()
		var raws []func(map[string]any)
		for _, st := range steps {
			dumpStep(&sb, st)
			if c, ok := st.(*Config); ok {
				if c.Edit != nil {
					c.Edit(cfg)
				}
				if c.Raw != nil {
					raws = append(raws, c.Raw)
				}
			}
			if w, ok := st.(*Workdir); ok {
				cfg.Config.WorkingDir = w.Path
			}
		}
		finals[i] = cfg
		var m map[string]any
		dt, _ := json.Marshal(cfg.Config)
		_ = json.Unmarshal(dt, &m)
		for _, r := range raws {
			r(m)
		}
		dt, _ = json.Marshal(m)
		fmt.Fprintf(&sb, "  config %s\n", dt)
		if cfg.Author != "" {
			fmt.Fprintf(&sb, "  author %q\n", cfg.Author)
		}
	}
	return sb.String()
}

func dumpStep(sb *strings.Builder, st Step) {
	o := st.At()
	line := 0
	if len(o.Location) > 0 {
		line = o.Location[0].Start.Line
	}
	fmt.Fprintf(sb, "  %d: %s\n", line, oneLine(o.Text))
	switch st := st.(type) {
	case *Config:
		fmt.Fprintf(sb, "     config history %q edit %v raw %v\n", st.History, st.Edit != nil, st.Raw != nil)
	case *Workdir:
		fmt.Fprintf(sb, "     workdir %q create %v env %q\n", st.Path, st.Create, st.Env)
	case *Run:
		fmt.Fprintf(sb, "     run %q env %q proxy %q\n     history %q\n", st.Args, st.Env, st.Proxy, st.History)
		if st.Script != nil {
			fmt.Fprintf(sb, "     script %q %q\n", st.Script.Name, st.Script.Data)
		}
		for _, m := range instructions.GetMounts(st.Command) {
			dt, _ := json.Marshal(m)
			fmt.Fprintf(sb, "     mount %s\n", dt)
		}
		if n := instructions.GetNetwork(st.Command); n != instructions.NetworkDefault {
			fmt.Fprintf(sb, "     network %s\n", n)
		}
	case *Copy:
		fmt.Fprintf(sb, "     copy from %q sources %q dest %q chown %q chmod %q excludes %q parents %v link %v add %v unpack %v checksum %q\n",
			st.From, st.SourcePaths, st.DestPath, st.Chown, st.Chmod, st.Excludes, st.Parents, st.Link, st.Add, st.Unpack, st.Checksum)
		for _, c := range st.SourceContents {
			fmt.Fprintf(sb, "     inline %q expand %v %q\n", c.Path, c.Expand, c.Data)
		}
		fmt.Fprintf(sb, "     history %q\n", st.History)
	}
}

// baseConfig is a made-up config for a base image: scratch as the engine
// makes it, and the onbuild test image with its triggers.
func baseConfig(name string) *v1.ConfigFile {
	cfg := &v1.ConfigFile{OS: "linux", Architecture: "amd64"}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	switch name {
	case "scratch":
		cfg.Config.WorkingDir = "/"
	case "onbuild":
		cfg.Config.OnBuild = []string{"RUN echo onbuild-ran > /onbuild.txt", "COPY onbuild/ /onbuild-ctx/"}
		cfg.Config.Labels = map[string]string{"base": "onbuild"}
	}
	return cfg
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// diff shows the first lines where want and got part.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, a, b)
		}
	}
	return ""
}

func mustPlan(t *testing.T, src string, opt Options) *Plan {
	t.Helper()
	f, err := Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func asError(err error, e **Error) bool {
	de, ok := err.(*Error)
	*e = de
	return ok
}
