package tekton

import (
	"fmt"

	"github.com/kaniko-build/kaniko-build/catalog"
)

// Where the generated files go, relative to the repository root.
const (
	taskDir              = "catalog/task/" + Name + "/" + Version
	stepActionDir        = "catalog/stepaction/" + Name + "/" + Version
	nonRootTaskDir       = "catalog/task/" + NonRootName + "/" + Version
	nonRootStepActionDir = "catalog/stepaction/" + NonRootName + "/" + Version
	indexTaskDir         = "catalog/task/" + IndexName + "/" + Version
	indexStepActionDir   = "catalog/stepaction/" + IndexName + "/" + Version
	examplesDir          = "examples/tekton"
)

// OwnedDirs are the directories Files fills entirely.
func OwnedDirs() []string {
	return []string{"catalog/task", "catalog/stepaction", examplesDir}
}

// Files renders the Tasks and StepActions in the Tekton catalog's layout,
// their samples and catalog tests, and copies of the samples under
// examples/tekton.
func Files() (catalog.Files, error) {
	docs := []struct {
		path string
		objs []any
	}{
		{taskDir + "/" + Name + ".yaml", []any{Task()}},
		{taskDir + "/samples/taskrun.yaml", []any{SampleTaskRun()}},
		{taskDir + "/samples/taskrun-git-resolver.yaml", []any{SampleTaskRunGitResolver()}},
		{taskDir + "/samples/taskrun-host-users.yaml", []any{SampleHostUsersTaskRun()}},
		{taskDir + "/samples/pipeline-base-and-app.yaml", []any{SamplePipeline(), SamplePipelineRun()}},
		{taskDir + "/samples/pipeline-multi-platform.yaml", []any{SampleMultiPlatformPipeline(), SampleMultiPlatformPipelineRun()}},
		{taskDir + "/tests/run.yaml", []any{TestPipeline(), TestPipelineRun()}},
		{taskDir + "/tests/resources.yaml", []any{TestResources()}},
		{stepActionDir + "/" + Name + ".yaml", []any{StepAction()}},
		{stepActionDir + "/samples/task-using-stepaction.yaml", []any{SampleStepActionTask(), SampleStepActionTaskRun()}},
		{nonRootTaskDir + "/" + NonRootName + ".yaml", []any{NonRootTask()}},
		{nonRootTaskDir + "/samples/taskrun.yaml", []any{SampleNonRootTaskRun()}},
		{nonRootStepActionDir + "/" + NonRootName + ".yaml", []any{NonRootStepAction()}},
		{nonRootStepActionDir + "/samples/task-using-stepaction.yaml", []any{SampleNonRootStepActionTask(), SampleNonRootStepActionTaskRun()}},
		{indexTaskDir + "/" + IndexName + ".yaml", []any{IndexTask()}},
		{indexTaskDir + "/samples/taskrun.yaml", []any{SampleIndexTaskRun()}},
		{indexTaskDir + "/samples/pipeline-multi-platform.yaml", []any{SampleMultiPlatformPipeline(), SampleMultiPlatformPipelineRun()}},
		{indexStepActionDir + "/" + IndexName + ".yaml", []any{IndexStepAction()}},
		{indexStepActionDir + "/samples/task-using-stepaction.yaml", []any{SampleIndexStepActionTask(), SampleIndexStepActionTaskRun()}},
		{examplesDir + "/taskrun.yaml", []any{SampleTaskRun()}},
		{examplesDir + "/taskrun-host-users.yaml", []any{SampleHostUsersTaskRun()}},
		{examplesDir + "/taskrun-nonroot.yaml", []any{SampleNonRootTaskRun()}},
		{examplesDir + "/pipeline-base-and-app.yaml", []any{SamplePipeline(), SamplePipelineRun()}},
		{examplesDir + "/pipeline-multi-platform.yaml", []any{SampleMultiPlatformPipeline(), SampleMultiPlatformPipelineRun()}},
		{examplesDir + "/task-using-stepaction.yaml", []any{SampleStepActionTask(), SampleStepActionTaskRun()}},
	}
	files := catalog.Files{}
	for _, d := range docs {
		content, err := catalog.YAML(d.objs...)
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", d.path, err)
		}
		if err := files.Add(d.path, content); err != nil {
			return nil, err
		}
	}
	readmes := []struct {
		path   string
		render func() ([]byte, error)
	}{
		{taskDir + "/README.md", TaskREADME},
		{stepActionDir + "/README.md", StepActionREADME},
		{nonRootTaskDir + "/README.md", NonRootTaskREADME},
		{nonRootStepActionDir + "/README.md", NonRootStepActionREADME},
		{indexTaskDir + "/README.md", IndexTaskREADME},
		{indexStepActionDir + "/README.md", IndexStepActionREADME},
		{examplesDir + "/README.md", ExamplesREADME},
	}
	for _, r := range readmes {
		content, err := r.render()
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", r.path, err)
		}
		if err := files.Add(r.path, content); err != nil {
			return nil, err
		}
	}
	return files, files.Add(taskDir+"/tests/pre-apply-task-hook.sh", []byte(preApplyHook))
}
