package tekton

import (
	"fmt"
	"slices"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/kaniko-build/kaniko-build/catalog"
)

// Tekton checks that a run's params and workspaces fit the Task only when
// it runs. checkUse does it here for every sample that uses kaniko-build
// (or its non-root variant) or kaniko-build-index:
// no unknown params, every required param given, every required workspace
// bound, no unknown workspace.
func checkUse(task *v1.Task, params []string, workspaces []string) error {
	var problems []string
	for _, p := range params {
		if !slices.ContainsFunc(task.Spec.Params, func(s v1.ParamSpec) bool { return s.Name == p }) {
			problems = append(problems, "unknown param "+p)
		}
	}
	for _, s := range task.Spec.Params {
		if s.Default == nil && !slices.Contains(params, s.Name) {
			problems = append(problems, "required param "+s.Name+" not given")
		}
	}
	for _, w := range workspaces {
		if !slices.ContainsFunc(task.Spec.Workspaces, func(d v1.WorkspaceDeclaration) bool { return d.Name == w }) {
			problems = append(problems, "unknown workspace "+w)
		}
	}
	for _, d := range task.Spec.Workspaces {
		if !d.Optional && !slices.Contains(workspaces, d.Name) {
			problems = append(problems, "required workspace "+d.Name+" not bound")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("using %s: %v", task.Name, problems)
	}
	return nil
}

func names[T any](list []T, name func(T) string) []string {
	var out []string
	for _, x := range list {
		out = append(out, name(x))
	}
	return out
}

func paramName(p v1.Param) string { return p.Name }

func TestSamplesUseTheTaskAsDeclared(t *testing.T) {
	tasks := map[string]*v1.Task{
		Name:                                Task(),
		NonRootName:                         NonRootTask(),
		sampleStepTaskName(catalog.Root):    SampleStepActionTask(),
		sampleStepTaskName(catalog.NonRoot): SampleNonRootStepActionTask(),
		IndexName:                           IndexTask(),
		sampleIndexStepTask:                 SampleIndexStepActionTask(),
	}
	uses := 0
	for path, objs := range generated(t) {
		for _, obj := range objs {
			var ref *v1.TaskRef
			var params, workspaces []string
			check := func() {
				task := tasks[ref.Name]
				if ref.Resolver == "git" {
					task = Task()
				}
				if task == nil {
					return
				}
				uses++
				if err := checkUse(task, params, workspaces); err != nil {
					t.Errorf("%s: %v", path, err)
				}
			}
			switch o := obj.(type) {
			case *v1.TaskRun:
				ref, params = o.Spec.TaskRef, names(o.Spec.Params, paramName)
				workspaces = names(o.Spec.Workspaces, func(w v1.WorkspaceBinding) string { return w.Name })
				check()
			case *v1.Pipeline:
				for _, pt := range o.Spec.Tasks {
					if pt.TaskRef == nil {
						continue
					}
					ref, params = pt.TaskRef, names(pt.Params, paramName)
					if pt.Matrix != nil {
						// A matrix's params are the Task's too, one value per run.
						params = append(params, names(pt.Matrix.Params, paramName)...)
					}
					workspaces = names(pt.Workspaces, func(w v1.WorkspacePipelineTaskBinding) string { return w.Name })
					check()
				}
			}
		}
	}
	if uses < 23 {
		t.Errorf("checked %d uses of the Tasks, want every sample's", uses)
	}
	if err := checkUse(Task(), []string{"IMAGES"}, nil); err == nil {
		t.Error("a run with an unknown param, no IMAGE and no source workspace passed the check")
	}
	if err := checkUse(IndexTask(), []string{"IMAGE", "PLATFORM"}, nil); err == nil {
		t.Error("an index run with an unknown param and no IMAGES passed the check")
	}
}
