package tekton

import (
	"context"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/config"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// testLogger is the knative configmap.Logger the config store wants.
type testLogger struct{ t *testing.T }

func (l testLogger) Debugf(string, ...any)     {}
func (l testLogger) Infof(string, ...any)      {}
func (l testLogger) Errorf(f string, a ...any) { l.t.Errorf(f, a...) }
func (l testLogger) Fatalf(f string, a ...any) { l.t.Fatalf(f, a...) }

// webhookContext builds the context Tekton's admission webhooks use: a
// config store (defaults and feature flags) loaded from ConfigMaps, here
// empty ones, i.e. the defaults of this Tekton release, and the create
// operation.
func webhookContext(t *testing.T) context.Context {
	return webhookContextWith(t, map[string]string{})
}

// webhookContextWith is webhookContext with these feature flags set.
func webhookContextWith(t *testing.T, flags map[string]string) context.Context {
	t.Helper()
	store := config.NewStore(testLogger{t})
	store.OnConfigChanged(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: config.GetDefaultsConfigName()}, Data: map[string]string{}})
	store.OnConfigChanged(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: config.GetFeatureFlagsConfigName()}, Data: flags})
	return apis.WithinCreate(store.ToContext(context.Background()))
}

// admit defaults then validates obj, as the mutating then the validating
// webhook do. Like the API server before them, it turns a generateName
// into a name.
func admit(ctx context.Context, obj any) *apis.FieldError {
	r, ok := obj.(admittable)
	if !ok {
		return nil // a core object, not Tekton's to validate
	}
	if m, ok := obj.(metav1.Object); ok && m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + "x7k2q")
	}
	r.SetDefaults(ctx)
	return r.Validate(ctx)
}

func TestGeneratedPassTektonValidation(t *testing.T) {
	ctx := webhookContext(t)
	n := 0
	for path, objs := range generated(t) {
		for _, obj := range objs {
			if err := admit(ctx, obj); err != nil {
				t.Errorf("%s: %T fails Tekton's validation: %v", path, obj, err)
			}
			if _, ok := obj.(admittable); ok {
				n++
			}
		}
	}
	if n < 34 {
		t.Errorf("validated %d Tekton objects, want every Task, StepAction, Pipeline and run", n)
	}
}

func TestBrokenCopiesFailTektonValidation(t *testing.T) {
	ctx := webhookContext(t)
	unknownParam := Task()
	unknownParam.Spec.Steps[buildStep].Args = append(unknownParam.Spec.Steps[buildStep].Args, "--label=$(params.NO_SUCH_PARAM)")

	unknownStepActionParam := StepAction()
	unknownStepActionParam.Spec.Args = append(unknownStepActionParam.Spec.Args, "--target=$(params.NO_SUCH_PARAM)")

	// Why the scratch volume is a param: a StepAction names no volume.
	namedVolume := NonRootStepAction()
	namedVolume.Spec.VolumeMounts[0].Name = volumeTemp

	missingWorkspace := SamplePipeline()
	missingWorkspace.Spec.Workspaces = missingWorkspace.Spec.Workspaces[1:] // drop "source"

	undeclaredStepWorkspace := Task()
	undeclaredStepWorkspace.Spec.Steps[buildStep].Workspaces = []v1.WorkspaceUsage{{Name: "no-such-workspace"}}

	// Why the images follow a lone --: an array is only expanded whole.
	imagesInFlag := IndexTask()
	args := imagesInFlag.Spec.Steps[indexStep].Args
	args[len(args)-1] = "--image=" + arrayParam(ParamImages)

	// A matrixed task's result is consumed only whole, with [*].
	oneResult := SampleMultiPlatformPipeline()
	oneResult.Spec.Tasks[2].Params[1].Value = *v1.NewStructuredValues(ref("tasks.build.results." + ResultImages))

	for name, obj := range map[string]any{
		"unknown param reference in the Task":       unknownParam,
		"unknown param reference in the StepAction": unknownStepActionParam,
		"StepAction mounts a volume by name":        namedVolume,
		"pipeline task binds a missing workspace":   missingWorkspace,
		"step uses an undeclared workspace":         undeclaredStepWorkspace,
		"array param inside an index argument":      imagesInFlag,
		"matrixed result consumed without [*]":      oneResult,
	} {
		err := admit(ctx, obj)
		if err == nil {
			t.Errorf("%s: Tekton's validation accepted it", name)
			continue
		}
		t.Logf("%s: rejected as expected: %v", name, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
}

// The READMEs say the fan-out needs matrix, a beta feature: it passes with
// enable-api-fields at beta (the default, above) and fails at stable.
func TestMatrixNeedsBetaFields(t *testing.T) {
	for _, fields := range []string{"beta", "alpha"} {
		if err := admit(webhookContextWith(t, map[string]string{"enable-api-fields": fields}), SampleMultiPlatformPipeline()); err != nil {
			t.Errorf("enable-api-fields %s: %v", fields, err)
		}
	}
	err := admit(webhookContextWith(t, map[string]string{"enable-api-fields": "stable"}), SampleMultiPlatformPipeline())
	if err == nil || !strings.Contains(err.Error(), "matrix") {
		t.Errorf("enable-api-fields stable: %v, want matrix refused", err)
	}
}
