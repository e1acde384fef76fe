package argo

import (
	"slices"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
)

// renderArgs substitutes the build template's inputs the way Argo's controller
// does before it creates the pod (common.ProcessArgs), expression tags
// included, and returns the executor's arguments.
func renderArgs(t *testing.T, args wfv1.Arguments) []string {
	t.Helper()
	tmpl := buildTemplate(TemplateBuild, sourcePath)
	out, err := common.ProcessArgs(&tmpl, &args, common.Parameters{}, common.Parameters{}, false, "default", nil)
	if err != nil {
		t.Fatalf("substituting the build template: %v", err)
	}
	for _, a := range out.Container.Args {
		if strings.Contains(a, "{{") {
			t.Errorf("argument left unsubstituted: %s", a)
		}
	}
	return out.Container.Args
}

func TestRenderedExecutorArguments(t *testing.T) {
	base := "registry.example.com/team/base:latest@sha256:" + strings.Repeat("a", 64)
	args := renderArgs(t, wfv1.Arguments{Parameters: []wfv1.Parameter{
		value(ParamImage, "registry.example.com/team/app:latest"),
		value(ParamBuildArgs, `["BASE=`+base+`", "QUOTE=a \"b\""]`),
		value(ParamSaveTar, "true"),
	}})
	for _, want := range []string{
		"--destination=registry.example.com/team/app:latest",
		"--context=" + sourcePath,
		"--tar-path=" + tarPath,
		`--build-args-json=["BASE=` + base + `", "QUOTE=a \"b\""]`,
		"--extra-args-json=[]",
		"--insecure-registry=",
		"--digest-file=" + outputsPath + "/" + OutputDigest,
	} {
		if !slices.Contains(args, want) {
			t.Errorf("rendered arguments lack %q:\n%s", want, strings.Join(args, "\n"))
		}
	}

	args = renderArgs(t, wfv1.Arguments{Parameters: []wfv1.Parameter{value(ParamImage, "r/app:1")}})
	if !slices.Contains(args, "--tar-path=") {
		t.Errorf("save-tar false should give an empty --tar-path:\n%s", strings.Join(args, "\n"))
	}
}
