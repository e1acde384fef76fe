package tekton

import (
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

func TestGeneratedReferencesAreDeclared(t *testing.T) {
	for path, objs := range generated(t) {
		for _, obj := range objs {
			var err error
			switch o := obj.(type) {
			case *v1.Task:
				err = CheckTask(o)
			case *v1beta1.StepAction:
				err = CheckStepAction(o)
			}
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
}

// TestReferenceCheckCatchesWhatTektonMisses shows each broken copy passing
// Tekton's own validation and failing ours.
func TestReferenceCheckCatchesWhatTektonMisses(t *testing.T) {
	ctx := webhookContext(t)
	typoResult := Task()
	typoResult.Spec.Steps[buildStep].Args[4] = "--digest-file=$(results.IMAGE_DIGST.path)"

	typoWorkspace := Task()
	typoWorkspace.Spec.Steps[buildStep].Env[0].Value = "$(workspaces.dockercfg.path)"

	duplicateResult := Task()
	duplicateResult.Spec.Results = append(duplicateResult.Spec.Results, duplicateResult.Spec.Results[0])

	typoStepResult := StepAction()
	typoStepResult.Spec.Args[4] = "--image-url-file=$(step.results.IMAGE_ULR.path)"

	typoIndexResult := IndexTask()
	typoIndexResult.Spec.Steps[indexStep].Args[4] = "--images-file=$(results.IMAGE.path)"

	cases := []struct {
		name  string
		obj   admittable
		check func() error
		want  string
	}{
		{"result typo in args", typoResult, func() error { return CheckTask(typoResult) }, `undeclared results "IMAGE_DIGST"`},
		{"workspace typo in env", typoWorkspace, func() error { return CheckTask(typoWorkspace) }, `undeclared workspaces "dockercfg"`},
		{"duplicate result", duplicateResult, func() error { return CheckTask(duplicateResult) }, `result "IMAGE_DIGEST" is declared twice`},
		{"step result typo", typoStepResult, func() error { return CheckStepAction(typoStepResult) }, `undeclared step.results "IMAGE_ULR"`},
		{"index result typo", typoIndexResult, func() error { return CheckTask(typoIndexResult) }, `undeclared results "IMAGE"`},
	}
	for _, c := range cases {
		if err := c.check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: our check said %v, want an error containing %s", c.name, err, c.want)
		}
		if err := admit(ctx, c.obj); err != nil {
			t.Logf("%s: Tekton rejects it too: %v", c.name, err)
		}
	}
}

// buildStep is the Task's step that runs the build, after the one that
// copies the credentials.
const buildStep = 1
