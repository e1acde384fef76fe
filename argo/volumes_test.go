package argo

import (
	"fmt"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

// Argo does not check that a volumeMount names a volume; the pod is then
// rejected at run time. checkMounts does: every mount of a container
// template must name one of the template's volumes or one the Workflow
// provides.
func checkMounts(tmpl wfv1.Template, provided map[string]bool) error {
	have := map[string]bool{}
	for k := range provided {
		have[k] = true
	}
	for _, v := range tmpl.Volumes {
		have[v.Name] = true
	}
	if tmpl.Container == nil {
		return nil
	}
	for _, m := range tmpl.Container.VolumeMounts {
		if !have[m.Name] {
			return fmt.Errorf("template %s mounts volume %q, which neither it nor the Workflow declares", tmpl.Name, m.Name)
		}
	}
	return nil
}

// workflowVolumes are the volumes a Workflow gives all its pods.
func workflowVolumes(spec wfv1.WorkflowSpec) map[string]bool {
	out := map[string]bool{}
	for _, v := range spec.Volumes {
		out[v.Name] = true
	}
	for _, c := range spec.VolumeClaimTemplates {
		out[c.Name] = true
	}
	return out
}

func TestEveryMountHasAVolume(t *testing.T) {
	p := parseGenerated(t)
	for _, wft := range p.templates {
		for _, tmpl := range wft.Spec.Templates {
			// build-from-volume documents that the caller provides it.
			provided := map[string]bool{}
			if tmpl.Name == TemplateBuildFromVolume {
				provided[VolumeWorkspace] = true
			}
			if err := checkMounts(tmpl, provided); err != nil {
				t.Errorf("WorkflowTemplate: %v", err)
			}
		}
	}
	for path, wf := range p.workflows {
		provided := workflowVolumes(wf.Spec)
		for _, tmpl := range wf.Spec.Templates {
			if err := checkMounts(tmpl, provided); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			for _, ref := range templateRefs(tmpl) {
				used, err := resolve(p, ref)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if err := checkMounts(used, provided); err != nil {
					t.Errorf("%s: through templateRef: %v", path, err)
				}
			}
		}
	}

	// A Workflow that uses build-from-volume without declaring workspace
	// is caught.
	broken := VolumeExample()
	broken.Spec.VolumeClaimTemplates = nil
	used, err := resolve(p, wfv1.TemplateRef{Name: Name, Template: TemplateBuildFromVolume})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkMounts(used, workflowVolumes(broken.Spec)); err == nil {
		t.Error("build-from-volume without a workspace volume passed the mount check")
	}
}

func templateRefs(tmpl wfv1.Template) []wfv1.TemplateRef {
	var refs []wfv1.TemplateRef
	if tmpl.DAG != nil {
		for _, task := range tmpl.DAG.Tasks {
			if task.TemplateRef != nil {
				refs = append(refs, *task.TemplateRef)
			}
		}
	}
	for _, parallel := range tmpl.Steps {
		for _, step := range parallel.Steps {
			if step.TemplateRef != nil {
				refs = append(refs, *step.TemplateRef)
			}
		}
	}
	return refs
}

func resolve(p parsed, ref wfv1.TemplateRef) (wfv1.Template, error) {
	var spec wfv1.WorkflowSpec
	if ref.ClusterScope {
		t, err := p.clusterTemplates.Get(ref.Name)
		if err != nil {
			return wfv1.Template{}, err
		}
		spec = t.Spec
	} else {
		t, err := p.templates.Get(ref.Name)
		if err != nil {
			return wfv1.Template{}, err
		}
		spec = t.Spec
	}
	for _, tmpl := range spec.Templates {
		if tmpl.Name == ref.Template {
			return tmpl, nil
		}
	}
	return wfv1.Template{}, fmt.Errorf("resolving %s/%s: no such template", ref.Name, ref.Template)
}
