package argo

import (
	"fmt"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
)

// wftGetter and cwftGetter resolve templateRefs against the generated
// templates, as `argo lint --offline` resolves them against the files it
// is given.
type wftGetter map[string]*wfv1.WorkflowTemplate

func (g wftGetter) Get(name string) (*wfv1.WorkflowTemplate, error) {
	if t, ok := g[name]; ok {
		return t.DeepCopy(), nil
	}
	return nil, fmt.Errorf("couldn't find workflow template %q", name)
}

type cwftGetter map[string]*wfv1.ClusterWorkflowTemplate

func (g cwftGetter) Get(name string) (*wfv1.ClusterWorkflowTemplate, error) {
	if t, ok := g[name]; ok {
		return t.DeepCopy(), nil
	}
	return nil, fmt.Errorf("couldn't find cluster workflow template %q", name)
}

// parsed is every object in the generated YAML, parsed strictly by Argo's
// own parser (the one argo lint uses).
type parsed struct {
	templates        wftGetter
	clusterTemplates cwftGetter
	workflows        map[string]*wfv1.Workflow
}

func parseGenerated(t *testing.T) parsed {
	t.Helper()
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{templates: wftGetter{}, clusterTemplates: cwftGetter{}, workflows: map[string]*wfv1.Workflow{}}
	for _, path := range files.Paths() {
		if !strings.HasSuffix(path, ".yaml") {
			continue
		}
		results := common.ParseObjects(files[path], true)
		if len(results) == 0 {
			t.Fatalf("%s: no Argo object parsed", path)
		}
		for i, r := range results {
			if r.Err != nil {
				t.Fatalf("%s: document %d: %v", path, i, r.Err)
			}
			switch o := r.Object.(type) {
			case *wfv1.WorkflowTemplate:
				p.templates[o.Name] = o
			case *wfv1.ClusterWorkflowTemplate:
				p.clusterTemplates[o.Name] = o
			case *wfv1.Workflow:
				p.workflows[path] = o
			default:
				t.Fatalf("%s: unexpected %T", path, o)
			}
		}
	}
	return p
}

func lintOpts() validate.ValidateOpts { return validate.ValidateOpts{Lint: true} }

func TestGeneratedPassArgoLint(t *testing.T) {
	p := parseGenerated(t)
	if len(p.templates) != 1 || len(p.clusterTemplates) != 1 || len(p.workflows) != 6 {
		t.Fatalf("parsed %d WorkflowTemplates, %d ClusterWorkflowTemplates, %d Workflows; want 1, 1, 6",
			len(p.templates), len(p.clusterTemplates), len(p.workflows))
	}
	for _, wft := range p.templates {
		if err := validate.ValidateWorkflowTemplate(p.templates, p.clusterTemplates, wft, nil, lintOpts()); err != nil {
			t.Errorf("WorkflowTemplate %s: %v", wft.Name, err)
		}
	}
	for _, cwft := range p.clusterTemplates {
		if err := validate.ValidateClusterWorkflowTemplate(nil, p.clusterTemplates, cwft, nil, lintOpts()); err != nil {
			t.Errorf("ClusterWorkflowTemplate %s: %v", cwft.Name, err)
		}
	}
	for path, wf := range p.workflows {
		if err := validate.ValidateWorkflow(p.templates, p.clusterTemplates, wf, nil, lintOpts()); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func TestBrokenCopiesFailArgoLint(t *testing.T) {
	p := parseGenerated(t)
	lintTemplate := func(wft *wfv1.WorkflowTemplate) error {
		return validate.ValidateWorkflowTemplate(wftGetter{wft.Name: wft}, p.clusterTemplates, wft, nil, lintOpts())
	}

	unknownParam := WorkflowTemplate()
	unknownParam.Spec.Templates[0].Container.Args = append(unknownParam.Spec.Templates[0].Container.Args,
		"--label={{inputs.parameters.no-such-param}}")

	missingPath := WorkflowTemplate()
	missingPath.Spec.Templates[0].Outputs.Parameters[0].ValueFrom.Path = ""

	unknownOutput := DAGExample()
	unknownOutput.Spec.Templates[0].DAG.Tasks[2].Arguments.Parameters[0].Value =
		wfv1.AnyStringPtr("{{tasks.build-app.outputs.parameters.no-such-output}}")

	unknownTemplate := StepsExample()
	unknownTemplate.Spec.Templates[0].Steps[0].Steps[0].TemplateRef.Template = "no-such-template"

	unknownIndexParam := WorkflowTemplate()
	index := unknownIndexParam.GetTemplateByName(TemplateIndex)
	index.Container.Args = append(index.Container.Args, "--image={{inputs.parameters.platform}}")

	// The index takes the builds' images; a build output that does not
	// exist, or a task that is not there, is caught.
	unknownBuildOutput := MultiPlatformExample()
	unknownBuildOutput.Spec.Templates[0].DAG.Tasks[1].Arguments.Parameters[1].Value =
		wfv1.AnyStringPtr("{{tasks.build.outputs.parameters.no-such-output}}")
	unknownTask := MultiPlatformExample()
	unknownTask.Spec.Templates[0].DAG.Tasks[1].Arguments.Parameters[1].Value =
		wfv1.AnyStringPtr("{{tasks.builds.outputs.parameters." + OutputImages + "}}")

	cases := map[string]func() error{
		"unknown parameter reference":     func() error { return lintTemplate(unknownParam) },
		"output parameter without a path": func() error { return lintTemplate(missingPath) },
		"reference to an output the template lacks": func() error {
			return validate.ValidateWorkflow(p.templates, p.clusterTemplates, unknownOutput, nil, lintOpts())
		},
		"templateRef to a missing template": func() error {
			return validate.ValidateWorkflow(p.templates, p.clusterTemplates, unknownTemplate, nil, lintOpts())
		},
		"index refers to a build input": func() error { return lintTemplate(unknownIndexParam) },
		"index given an output the build lacks": func() error {
			return validate.ValidateWorkflow(p.templates, p.clusterTemplates, unknownBuildOutput, nil, lintOpts())
		},
		"index given the outputs of a missing task": func() error {
			return validate.ValidateWorkflow(p.templates, p.clusterTemplates, unknownTask, nil, lintOpts())
		},
	}
	for name, lint := range cases {
		if err := lint(); err == nil {
			t.Errorf("%s: Argo's validation accepted it", name)
		} else {
			t.Logf("%s: rejected as expected: %v", name, err)
		}
	}
}
