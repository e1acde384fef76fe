package argo

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoutil "github.com/argoproj/argo-workflows/v3/util"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
)

// submitFrom does what the Argo server does for
// `argo submit --from workflowtemplate/kaniko-build [--entrypoint E] -p ...`
// (server/workflow SubmitWorkflow): a Workflow that only references the
// template (common.NewWorkflowFromWorkflowTemplate), the submit options
// applied, then validated for submission (validate.ValidateWorkflow with
// Submit, which merges the template's spec.arguments under the Workflow's).
//
// The options are applied here as workflow/util.ApplySubmitOpts applies
// them (-p NAME=VALUE replaces or adds a spec.arguments parameter; a non-empty
// --entrypoint sets spec.entrypoint): that package links Argo's database
// drivers and CLI, too much for a unit test.
func submitFrom(p parsed, clusterScope bool, entrypoint string, params ...string) (*wfv1.Workflow, error) {
	wf := common.NewWorkflowFromWorkflowTemplate(Name, clusterScope)
	if entrypoint != "" {
		wf.Spec.Entrypoint = entrypoint
	}
	var passed []wfv1.Parameter
	for _, kv := range params {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("expected parameter of the form: NAME=VALUE. Received: %s", kv)
		}
		passed = append(passed, wfv1.Parameter{Name: name, Value: wfv1.AnyStringPtr(value)})
	}
	wf.Spec.Arguments.Parameters = argoutil.MergeParameters(passed, wf.Spec.Arguments.Parameters)
	return wf, validate.ValidateWorkflow(p.templates, p.clusterTemplates, wf, nil, validate.ValidateOpts{Submit: true})
}

// entrypointArgs does what the controller then does: it joins the
// Workflow's spec with the template's (workflow/util.JoinWorkflowSpec: the
// Workflow's parameters over the template's, by name), runs the entrypoint
// template with the joined spec.arguments, and substitutes its inputs
// (common.ProcessArgs). It returns the executor's arguments.
func entrypointArgs(t *testing.T, p parsed, wf *wfv1.Workflow) []string {
	t.Helper()
	var holder interface {
		GetWorkflowSpec() *wfv1.WorkflowSpec
		GetTemplateByName(string) *wfv1.Template
	}
	if wf.Spec.WorkflowTemplateRef.ClusterScope {
		holder = p.clusterTemplates[wf.Spec.WorkflowTemplateRef.Name]
	} else {
		holder = p.templates[wf.Spec.WorkflowTemplateRef.Name]
	}
	tmplSpec := holder.GetWorkflowSpec()
	entrypoint := wf.Spec.Entrypoint
	if entrypoint == "" {
		entrypoint = tmplSpec.Entrypoint
	}
	entry := holder.GetTemplateByName(entrypoint)
	if entry == nil {
		t.Fatalf("entrypoint %q is not a template", entrypoint)
	}
	args := wfv1.Arguments{Parameters: argoutil.MergeParameters(wf.Spec.Arguments.Parameters, tmplSpec.Arguments.Parameters)}
	out, err := common.ProcessArgs(entry, &args, common.Parameters{}, common.Parameters{}, false, "default", nil)
	if err != nil {
		t.Fatalf("substituting the entrypoint template: %v", err)
	}
	for _, a := range out.Container.Args {
		if strings.Contains(a, "{{") {
			t.Errorf("argument left unsubstituted: %s", a)
		}
	}
	return out.Container.Args
}

func TestSubmitFromTemplate(t *testing.T) {
	p := parseGenerated(t)
	for _, clusterScope := range []bool{false, true} {
		kind := map[bool]string{false: "workflowtemplate", true: "clusterworkflowtemplate"}[clusterScope]

		// argo submit --from <kind>/kaniko-build -p image=x
		wf, err := submitFrom(p, clusterScope, "", "image=registry.example.com/team/app:1")
		if err != nil {
			t.Fatalf("%s: submitting with -p image: %v", kind, err)
		}
		args := entrypointArgs(t, p, wf)
		for _, want := range []string{
			"--destination=registry.example.com/team/app:1",
			"--context=" + sourcePath,
			"--dockerfile=Dockerfile",
			"--build-args-json=[]",
			"--cache=false",
			"--tar-path=",
		} {
			if !slices.Contains(args, want) {
				t.Errorf("%s: --from -p image: arguments lack %q:\n  %s", kind, want, strings.Join(args, "\n  "))
			}
		}

		// The README's form, with --entrypoint build and more parameters.
		wf, err = submitFrom(p, clusterScope, TemplateBuild,
			"image=r.example.com/a:2", `build-args=["V=1"]`, "save-tar=true", "context=/workspace/source/app")
		if err != nil {
			t.Fatalf("%s: submitting with --entrypoint build: %v", kind, err)
		}
		args = entrypointArgs(t, p, wf)
		for _, want := range []string{
			"--destination=r.example.com/a:2",
			`--build-args-json=["V=1"]`,
			"--tar-path=" + tarPath,
			"--context=/workspace/source/app",
		} {
			if !slices.Contains(args, want) {
				t.Errorf("%s: --entrypoint build: arguments lack %q:\n  %s", kind, want, strings.Join(args, "\n  "))
			}
		}

		// Without the image the submission is refused, as argo submit
		// refuses it, rather than building into an empty destination.
		if _, err := submitFrom(p, clusterScope, ""); err == nil {
			t.Errorf("%s: submitting without -p image was accepted", kind)
		} else if !strings.Contains(err.Error(), ParamImage) {
			t.Errorf("%s: submitting without -p image: error does not name it: %v", kind, err)
		}
	}
}

// The index can be submitted from the template too, with --entrypoint
// index and its images as a JSON list.
func TestSubmitIndexFromTemplate(t *testing.T) {
	p := parseGenerated(t)
	images := `["r.example.com/a@sha256:` + strings.Repeat("1", 64) + `","r.example.com/a@sha256:` + strings.Repeat("2", 64) + `"]`
	for _, clusterScope := range []bool{false, true} {
		wf, err := submitFrom(p, clusterScope, TemplateIndex, "image=r.example.com/a:1", "images="+images)
		if err != nil {
			t.Fatalf("clusterScope %t: submitting --entrypoint index: %v", clusterScope, err)
		}
		args := entrypointArgs(t, p, wf)
		for _, want := range []string{"index", "--destination=r.example.com/a:1", "--images-json=" + images, "--image-format=oci"} {
			if !slices.Contains(args, want) {
				t.Errorf("clusterScope %t: --entrypoint index: arguments lack %q:\n  %s", clusterScope, want, strings.Join(args, "\n  "))
			}
		}
		if _, err := submitFrom(p, clusterScope, TemplateIndex, "image=r.example.com/a:1"); err == nil {
			t.Errorf("clusterScope %t: submitting the index without -p images was accepted", clusterScope)
		} else if !strings.Contains(err.Error(), ParamImages) {
			t.Errorf("clusterScope %t: submitting without -p images: error does not name it: %v", clusterScope, err)
		}
	}
}

// TestSubmitArgumentsMatchInputs keeps spec.arguments in step with the
// build template's inputs: the same names, image without a value, every
// other one valued with its default.
func TestSubmitArgumentsMatchInputs(t *testing.T) {
	wft := WorkflowTemplate()
	if wft.Spec.Entrypoint != TemplateBuild {
		t.Errorf("spec.entrypoint is %q, want %q", wft.Spec.Entrypoint, TemplateBuild)
	}
	build := wft.GetTemplateByName(TemplateBuild)
	args := wft.Spec.Arguments.Parameters
	if len(args) != len(build.Inputs.Parameters) {
		t.Fatalf("%d spec.arguments.parameters for %d inputs", len(args), len(build.Inputs.Parameters))
	}
	for i, in := range build.Inputs.Parameters {
		a := args[i]
		if a.Name != in.Name {
			t.Errorf("argument %d is %q, input %q", i, a.Name, in.Name)
			continue
		}
		switch {
		case in.Default == nil && a.Value != nil:
			t.Errorf("%s has no default but the argument has value %q", in.Name, a.Value)
		case in.Default != nil && (a.Value == nil || a.Value.String() != in.Default.String()):
			t.Errorf("%s: argument value %v, input default %q", in.Name, a.Value, in.Default)
		}
	}
	if cwft := ClusterWorkflowTemplate(); cwft.Spec.String() != wft.Spec.String() {
		t.Error("the ClusterWorkflowTemplate's spec differs from the WorkflowTemplate's")
	}
}
