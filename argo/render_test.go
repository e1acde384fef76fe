package argo

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kaniko-build/kaniko-build/catalog"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
)

// renderArgs substitutes the build template's inputs the way Argo's controller
// does before it creates the pod (common.ProcessArgs), expression tags
// included, and returns the executor's arguments.
func renderArgs(t *testing.T, args wfv1.Arguments) []string {
	t.Helper()
	return renderTemplateArgs(t, buildTemplate(TemplateBuild, sourcePath, catalog.Root), args)
}

func renderTemplateArgs(t *testing.T, tmpl wfv1.Template, args wfv1.Arguments) []string {
	t.Helper()
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
	for _, want := range []string{"--tar-path=", "--custom-platform=", "--push-by-digest=false"} {
		if !slices.Contains(args, want) {
			t.Errorf("by default the arguments lack %q:\n%s", want, strings.Join(args, "\n"))
		}
	}

	args = renderArgs(t, wfv1.Arguments{Parameters: []wfv1.Parameter{
		value(ParamImage, "r/app"), value(ParamPlatform, "linux/arm64"), value(ParamPushByDigest, "true"),
	}})
	for _, want := range []string{"--destination=r/app", "--custom-platform=linux/arm64", "--push-by-digest=true"} {
		if !slices.Contains(args, want) {
			t.Errorf("a platform's build by digest: arguments lack %q:\n%s", want, strings.Join(args, "\n"))
		}
	}
}

// TestRenderedIndexArguments gives the index template the builds' images
// in the form Argo's controller aggregates a withItems task's output
// parameter into (processAggregateNodeOutputs: values that are not JSON
// objects or lists become a JSON list of strings) and checks the
// executor's arguments carry that list intact.
func TestRenderedIndexArguments(t *testing.T) {
	var images []string
	for i := range examplePlatforms {
		images = append(images, "registry.example.com/team/app@sha256:"+strings.Repeat(fmt.Sprint(i+1), 64))
	}
	aggregated, err := json.Marshal(images)
	if err != nil {
		t.Fatal(err)
	}
	args := renderTemplateArgs(t, indexTemplate(), wfv1.Arguments{Parameters: []wfv1.Parameter{
		value(ParamImage, "registry.example.com/team/app:1.0"),
		value(ParamImages, string(aggregated)),
	}})
	want := []string{
		"index",
		"--destination=registry.example.com/team/app:1.0",
		"--digest-file=" + outputsPath + "/" + OutputDigest,
		"--image-url-file=" + outputsPath + "/" + OutputImageURL,
		"--images-file=" + outputsPath + "/" + OutputImages,
		"--image-format=oci",
		"--insecure-registry=",
		"--images-json=" + string(aggregated),
		"--extra-args-json=[]",
	}
	if !slices.Equal(args, want) {
		t.Errorf("index arguments:\n  %s\nwant:\n  %s", strings.Join(args, "\n  "), strings.Join(want, "\n  "))
	}
	var got []string
	if err := json.Unmarshal([]byte(strings.TrimPrefix(args[7], "--images-json=")), &got); err != nil || !slices.Equal(got, images) {
		t.Errorf("--images-json holds %q (%v), want %q", got, err, images)
	}
}
