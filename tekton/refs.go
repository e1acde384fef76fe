package tekton

import (
	"fmt"
	"regexp"
	"slices"
	"sort"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
)

// Tekton validates $(params.*) references, and $(results.*) only inside
// scripts; a $(workspaces.X.path) or a $(results.X.path) in args or env
// that names nothing is substituted as is at run time and the executor
// writes to a path like "$(results.IMAGE_DIGST.path)". CheckTask and
// CheckStepAction catch those.

// refPattern matches $(workspaces.NAME.FIELD), $(results.NAME.path) and
// $(step.results.NAME.path).
func refPattern() *regexp.Regexp {
	return regexp.MustCompile(`\$\((workspaces|results|step\.results)\.([^.)]+)\.([^)]+)\)`)
}

// CheckTask reports references to undeclared workspaces or results in any
// step field Tekton substitutes, and duplicate names.
func CheckTask(t *v1.Task) error {
	declared := map[string][]string{}
	for _, w := range t.Spec.Workspaces {
		declared["workspaces"] = append(declared["workspaces"], w.Name)
	}
	for _, r := range t.Spec.Results {
		declared["results"] = append(declared["results"], r.Name)
	}
	var fields []string
	for _, s := range t.Spec.Steps {
		fields = append(fields, stepFields(s.Image, s.WorkingDir, s.Script, s.Command, s.Args, envValues(s.Env))...)
	}
	return check(t.Name, declared, fields, map[string][]string{
		"param":     paramNames(t.Spec.Params),
		"workspace": declared["workspaces"],
		"result":    declared["results"],
	})
}

// CheckStepAction is CheckTask for a StepAction, whose results are
// $(step.results.NAME.path) and which has no workspaces.
func CheckStepAction(sa *v1beta1.StepAction) error {
	declared := map[string][]string{"workspaces": nil}
	for _, r := range sa.Spec.Results {
		declared["step.results"] = append(declared["step.results"], r.Name)
	}
	fields := stepFields(sa.Spec.Image, sa.Spec.WorkingDir, sa.Spec.Script, sa.Spec.Command, sa.Spec.Args, envValues(sa.Spec.Env))
	return check(sa.Name, declared, fields, map[string][]string{
		"param":  paramNames(sa.Spec.Params),
		"result": declared["step.results"],
	})
}

func check(name string, declared map[string][]string, fields []string, names map[string][]string) error {
	var problems []string
	for _, f := range fields {
		for _, m := range refPattern().FindAllStringSubmatch(f, -1) {
			kind, ref := m[1], m[2]
			known, ok := declared[kind]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s refers to %s, which this kind does not have", name, m[0], kind))
				continue
			}
			if !slices.Contains(known, ref) {
				problems = append(problems, fmt.Sprintf("%s: %s refers to an undeclared %s %q", name, m[0], kind, ref))
			}
		}
	}
	kinds := make([]string, 0, len(names))
	for k := range names {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		seen := map[string]bool{}
		for _, n := range names[kind] {
			if seen[n] {
				problems = append(problems, fmt.Sprintf("%s: %s %q is declared twice", name, kind, n))
			}
			seen[n] = true
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("checking references: %v", problems)
	}
	return nil
}

func stepFields(image, workingDir, script string, command, args, env []string) []string {
	fields := append([]string{image, workingDir, script}, command...)
	fields = append(fields, args...)
	return append(fields, env...)
}

func envValues(env []corev1.EnvVar) []string {
	var out []string
	for _, e := range env {
		out = append(out, e.Value)
	}
	return out
}

func paramNames(ps v1.ParamSpecs) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
