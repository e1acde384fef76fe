package plan

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// planner walks one stage's instructions, keeping the config as the
// steps so far leave it.
type planner struct {
	p        *Plan
	lex      *shell.Lex
	cfg      *v1.ConfigFile
	env      []string // what RUN sees: config Env plus ARGs
	args     map[string]bool
	argOrder []string // the stage's ARG names, in the order declared
	cmdSet   bool
	steps    []Step
}

// Steps expands stage i's instructions into steps, starting from base,
// the config of its base image or stage (left unchanged). The base's
// ONBUILD triggers come first, as the stage's own steps.
func (p *Plan) Steps(i int, base *v1.ConfigFile) ([]Step, error) {
	st := p.Stages[i]
	pl := &planner{p: p, lex: shell.NewLex(p.File.Escape), cfg: base.DeepCopy(), args: map[string]bool{}}
	pl.env = append([]string{}, pl.cfg.Config.Env...)
	var cmds []instructions.Command
	if triggers := pl.cfg.Config.OnBuild; len(triggers) > 0 {
		for _, t := range triggers {
			c, err := parseTrigger(t)
			if err != nil {
				return nil, At(p.File.Name, st.Location, fmt.Errorf("parsing ONBUILD trigger: %w", err))
			}
			cmds = append(cmds, c)
		}
		// Triggers run once: the stage's image has none of its base's.
		pl.config(Origin{Location: st.Location}, "", func(c *v1.ConfigFile) { c.Config.OnBuild = nil })
	}
	for _, n := range p.File.nodes[i] {
		c, err := instructions.ParseCommand(n)
		if err != nil {
			return nil, At(p.File.Name, n.Location(), err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := pl.add(c); err != nil {
			return nil, At(p.File.Name, c.Location(), err)
		}
	}
	return pl.steps, nil
}

// config adds a Config step and applies it to the planner's config.
func (pl *planner) config(src Origin, history string, edit func(*v1.ConfigFile)) *Config {
	c := &Config{Origin: src, History: history, Edit: edit}
	if edit != nil {
		edit(pl.cfg)
	}
	pl.steps = append(pl.steps, c)
	return c
}

func (pl *planner) expander() instructions.SingleWordExpander {
	env := shell.EnvsFromSlice(pl.env)
	return func(word string) (string, error) {
		v, _, err := pl.lex.ProcessWord(word, env)
		return v, err
	}
}

// add plans one instruction.
func (pl *planner) add(c instructions.Command) error {
	_, isArg := c.(*instructions.ArgCommand) // arg expands one at a time
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok && !isArg {
		if err := e.Expand(pl.expander()); err != nil {
			return err
		}
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(pl.expander()); err != nil {
			return err
		}
	}
	src := Origin{Location: c.Location(), Text: text(c)}
	switch c := c.(type) {
	case *instructions.ArgCommand:
		return pl.arg(src, c)
	case *instructions.ExposeCommand:
		return pl.expose(src, c)
	case *instructions.WorkdirCommand:
		pl.workdir(src, c.Path)
	case *instructions.RunCommand:
		return pl.run(src, c)
	case *instructions.CopyCommand:
		return pl.copy(src, c)
	case *instructions.AddCommand:
		pl.steps = append(pl.steps, &Copy{
			Origin: src, SourcesAndDest: c.SourcesAndDest, Chown: c.Chown, Chmod: c.Chmod,
			Excludes: c.ExcludePatterns, Add: true, Checksum: c.Checksum, Unpack: c.Unpack == nil || *c.Unpack,
			History: copyHistory("ADD", c.SourcesAndDest, false, c.Chown, c.Chmod),
		})
	default:
		return pl.metadata(src, c)
	}
	return nil
}

// metadata plans the instructions that only edit the config.
func (pl *planner) metadata(src Origin, c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			pl.env = SetEnv(pl.env, kv.Key, kv.Value)
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		pl.config(src, "ENV "+strings.Join(parts, " "), func(cfg *v1.ConfigFile) {
			for _, kv := range c.Env {
				cfg.Config.Env = SetEnv(cfg.Config.Env, kv.Key, kv.Value)
			}
		})
	case *instructions.LabelCommand:
		var parts []string
		for _, kv := range c.Labels {
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		pl.config(src, "LABEL "+strings.Join(parts, " "), func(cfg *v1.ConfigFile) {
			if cfg.Config.Labels == nil {
				cfg.Config.Labels = map[string]string{}
			}
			for _, kv := range c.Labels {
				cfg.Config.Labels[kv.Key] = kv.Value
			}
		})
	case *instructions.MaintainerCommand:
		pl.config(src, "MAINTAINER "+c.Maintainer, func(cfg *v1.ConfigFile) { cfg.Author = c.Maintainer })
	case *instructions.UserCommand:
		pl.config(src, "USER "+c.User, func(cfg *v1.ConfigFile) { cfg.Config.User = c.User })
	case *instructions.VolumeCommand:
		for _, v := range c.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
		}
		pl.config(src, "VOLUME "+fmt.Sprint(c.Volumes), func(cfg *v1.ConfigFile) {
			if cfg.Config.Volumes == nil {
				cfg.Config.Volumes = map[string]struct{}{}
			}
			for _, v := range c.Volumes {
				cfg.Config.Volumes[v] = struct{}{}
			}
		})
	case *instructions.ShellCommand:
		sh := append([]string{}, c.Shell...)
		pl.config(src, "SHELL "+fmt.Sprint(c.Shell), func(cfg *v1.ConfigFile) { cfg.Config.Shell = append([]string{}, sh...) })
	case *instructions.StopSignalCommand:
		pl.config(src, "STOPSIGNAL "+c.Signal, func(cfg *v1.ConfigFile) { cfg.Config.StopSignal = c.Signal })
	case *instructions.HealthCheckCommand:
		pl.healthcheck(src, c.Health)
	case *instructions.OnbuildCommand:
		// No history entry, as in BuildKit.
		pl.config(src, "", func(cfg *v1.ConfigFile) { cfg.Config.OnBuild = append(cfg.Config.OnBuild, c.Expression) })
	case *instructions.CmdCommand:
		cmd := pl.withShell(c.ShellDependantCmdLine)
		pl.cmdSet = true
		pl.config(src, fmt.Sprintf("CMD %q", cmd), func(cfg *v1.ConfigFile) { cfg.Config.Cmd = append([]string{}, cmd...) })
	case *instructions.EntrypointCommand:
		ep, keepCmd := pl.withShell(c.ShellDependantCmdLine), pl.cmdSet
		pl.config(src, fmt.Sprintf("ENTRYPOINT %q", ep), func(cfg *v1.ConfigFile) {
			cfg.Config.Entrypoint = append([]string{}, ep...)
			if !keepCmd {
				cfg.Config.Cmd = nil // as docker: a CMD of the base goes
			}
		})
	default:
		return fmt.Errorf("unsupported instruction %s", c.Name())
	}
	return nil
}

func (pl *planner) healthcheck(src Origin, h *dockerspec.HealthcheckConfig) {
	hc := &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	// BuildKit's spelling: the whole struct.
	step := pl.config(src, fmt.Sprintf("HEALTHCHECK %+v", *h), func(cfg *v1.ConfigFile) {
		c := *hc
		cfg.Config.Healthcheck = &c
	})
	si := h.StartInterval
	step.Raw = func(c map[string]any) {
		hm, ok := c["Healthcheck"].(map[string]any)
		if !ok {
			return
		}
		if si > 0 {
			hm["StartInterval"] = int64(si)
		} else {
			delete(hm, "StartInterval")
		}
	}
}

// arg declares ARGs: a --build-arg wins over the default, a bare ARG
// takes the global value, and the value is visible to later steps but
// never stored in the image config.
func (pl *planner) arg(src Origin, c *instructions.ArgCommand) error {
	var parts []string
	for _, kv := range c.Args {
		v, hasValue := pl.p.buildArgs[kv.Key]
		if !hasValue && kv.Value == nil {
			v, hasValue = GetEnv(pl.p.GlobalArgs, kv.Key)
		} else if !hasValue {
			// Expanded here, as BuildKit: "ARG A=1 B=$A" sees A=1, and a
			// default a build arg replaces is never expanded.
			var err error
			if v, _, err = pl.lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(pl.env)); err != nil {
				return err
			}
			hasValue = true
		}
		if !pl.args[kv.Key] {
			pl.argOrder = append(pl.argOrder, kv.Key)
		}
		pl.args[kv.Key] = true
		if hasValue {
			pl.env = SetEnv(pl.env, kv.Key, v)
			parts = append(parts, kv.Key+"="+v)
		} else {
			parts = append(parts, kv.Key)
		}
	}
	pl.config(src, "ARG "+strings.Join(parts, " "), nil)
	return nil
}

func (pl *planner) expose(src Origin, c *instructions.ExposeCommand) error {
	env := shell.EnvsFromSlice(pl.env)
	var all []string
	for _, p := range c.Ports {
		words, err := pl.lex.ProcessWords(p, env)
		if err != nil {
			return err
		}
		for _, w := range words {
			ports, err := expandPorts(w)
			if err != nil {
				return err
			}
			all = append(all, ports...)
		}
	}
	pl.config(src, fmt.Sprintf("EXPOSE %v", all), func(cfg *v1.ConfigFile) {
		if cfg.Config.ExposedPorts == nil {
			cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range all {
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	})
	return nil
}

// expandPorts turns "80", "80/udp" or "8000-8002/tcp" into port/proto keys.
func expandPorts(spec string) ([]string, error) {
	portPart, proto, ok := strings.Cut(spec, "/")
	if !ok || proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	lo, hi, isRange := strings.Cut(portPart, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || strconv.Itoa(a) != lo || a < 0 || a > 65535 {
		return nil, fmt.Errorf("invalid containerPort: %s", portPart)
	}
	z := a
	if isRange {
		if z, err = strconv.Atoi(hi); err != nil || strconv.Itoa(z) != hi || z < a || z > 65535 {
			return nil, fmt.Errorf("invalid port range: %s", portPart)
		}
	}
	var out []string
	for p := a; p <= z; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// workdir is as BuildKit's: an absolute path is kept as written, a
// relative one joined to the current one.
func (pl *planner) workdir(src Origin, wd string) {
	if !path.IsAbs(wd) {
		cur := pl.cfg.Config.WorkingDir
		if cur == "" {
			cur = "/"
		}
		wd = path.Join(cur, wd)
	}
	pl.cfg.Config.WorkingDir = wd
	src.Text = "WORKDIR " + wd
	pl.steps = append(pl.steps, &Workdir{Origin: src, Path: wd, Create: path.Clean(wd) != "/", Env: append([]string{}, pl.env...)})
}

// withShell turns a shell-form command line into exec form.
func (pl *planner) withShell(c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	return append(pl.shell(), strings.Join(c.CmdLine, " "))
}

func (pl *planner) shell() []string {
	if len(pl.cfg.Config.Shell) > 0 {
		return append([]string{}, pl.cfg.Config.Shell...)
	}
	return []string{"/bin/sh", "-c"}
}

func (pl *planner) run(src Origin, c *instructions.RunCommand) error {
	args, sc, err := pl.runArgs(c)
	if err != nil {
		return err
	}
	r := &Run{Origin: src, Command: c, Args: args, Script: sc, Env: append([]string{}, pl.env...)}
	for _, k := range proxyArgs {
		if v, ok := pl.p.buildArgs[k]; ok && !pl.args[k] {
			r.Proxy = append(r.Proxy, k+"="+v)
		}
	}
	// BuildKit's history: the argv after the stage's ARGs in the order
	// declared, with the values the RUN saw (proxy args left out).
	var used []string
	for _, k := range pl.argOrder {
		if !isProxyArg(k) {
			v, _ := GetEnv(pl.env, k)
			used = append(used, k+"="+v)
		}
	}
	r.History = "RUN " + strings.Join(args, " ")
	if len(used) > 0 {
		r.History = fmt.Sprintf("RUN |%d %s %s", len(used), strings.Join(used, " "), strings.Join(args, " "))
	}
	pl.steps = append(pl.steps, r)
	return nil
}

// runArgs turns a RUN into argv, as BuildKit does with heredocs: a single
// heredoc with a shebang becomes a script file, /dev/pipes/NAME, that the
// shell runs; other heredocs go to the shell as text.
func (pl *planner) runArgs(c *instructions.RunCommand) ([]string, *Script, error) {
	args := c.CmdLine
	var sc *Script
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, nil, fmt.Errorf("parsing produced an invalid run command: %v", args)
		}
		if hd := parser.MustParseHeredoc(args[0]); hd != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				sc = &Script{Name: c.Files[0].Name, Data: data}
				args = []string{path.Join("/dev/pipes", sc.Name)}
			} else {
				args = []string{data}
			}
		} else {
			var sb strings.Builder
			sb.WriteString(args[0])
			for _, f := range c.Files {
				sb.WriteByte('\n')
				sb.WriteString(f.Data)
				sb.WriteString(f.Name)
			}
			args = []string{sb.String()}
		}
	}
	if c.PrependShell {
		return append(pl.shell(), strings.Join(args, " ")), sc, nil
	}
	return append([]string{}, args...), sc, nil
}

func (pl *planner) copy(src Origin, c *instructions.CopyCommand) error {
	if c.Link && !numericChown(c.Chown) {
		// As BuildKit: a linked layer is made apart from the stage's
		// files, where no /etc/passwd says who a name is.
		return fmt.Errorf("--chown=%s: user and group names can't be resolved when used with --link, use numeric uid[:gid] instead", c.Chown)
	}
	pl.steps = append(pl.steps, &Copy{
		Origin: src, SourcesAndDest: c.SourcesAndDest, From: c.From, Chown: c.Chown, Chmod: c.Chmod,
		Excludes: c.ExcludePatterns, Parents: c.Parents, Link: c.Link,
		History: copyHistory("COPY", c.SourcesAndDest, c.Parents, c.Chown, c.Chmod),
	})
	return nil
}

// copyHistory is the history line of a COPY or ADD, as BuildKit writes
// it: the flags that change the files, the sources (a heredoc as <<NAME)
// and the destination, after expansion.
func copyHistory(keyword string, sd instructions.SourcesAndDest, parents bool, chown, chmod string) string {
	var sb strings.Builder
	sb.WriteString(keyword)
	if parents {
		sb.WriteString(" --parents")
	}
	if chown != "" {
		sb.WriteString(" --chown=" + chown)
	}
	if chmod != "" {
		sb.WriteString(" --chmod=" + chmod)
	}
	for _, p := range sd.SourcePaths {
		sb.WriteString(" " + p)
	}
	for _, c := range sd.SourceContents {
		sb.WriteString(" <<" + c.Path)
	}
	sb.WriteString(" " + sd.DestPath)
	return sb.String()
}

// numericChown tells a --chown of numbers only ("1000", "1000:50"), or
// none.
func numericChown(chown string) bool {
	for _, part := range strings.Split(chown, ":") {
		if _, err := strconv.ParseUint(part, 10, 32); part != "" && err != nil {
			return false
		}
	}
	return true
}

// text is a step as written, after expansion, for progress lines.
func text(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.ToUpper(c.Name())
}
