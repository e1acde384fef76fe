package tekton

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stepActionMinVersion is the first Tekton Pipelines release with
// tekton.dev/v1beta1 StepActions.
const stepActionMinVersion = "0.59.0"

// StepAction returns the kaniko-build StepAction: the Task's step, with the
// paths the Task gets from workspaces taken as parameters instead.
func StepAction() *v1beta1.StepAction { return stepAction(catalog.Root) }

// NonRootStepAction returns the kaniko-build-nonroot StepAction: the
// non-root Task's build step. A StepAction declares no volumes: the
// scratch directory is a volume of the calling Task, named by TMP_VOLUME.
func NonRootStepAction() *v1beta1.StepAction { return stepAction(catalog.NonRoot) }

func stepAction(u catalog.User) *v1beta1.StepAction {
	params := append(buildParams(),
		str(ParamSourcePath, "Directory holding the source; CONTEXT is relative to it and it is the working directory. Usually $(workspaces.<name>.path).", ptr(sourcePath)),
		str(ParamCacheDir, "Directory kept between runs for cached base images and RUN --mount=type=cache contents; empty for none.", ptr("")),
		str(ParamDockerConfig, "Directory holding config.json (or .dockerconfigjson) with registry credentials.", ptr(catalog.DockerConfigDir)),
	)
	description := "Builds a Dockerfile into a container image and pushes it with the kaniko-build executor, " +
		"as one step of your own Task. The results IMAGE_DIGEST, IMAGE_URL and IMAGES are step results: " +
		"map them to Task results with $(steps.<step>.results.<name>)."
	displayName, tags := "Kaniko Build", buildTags
	var mounts []corev1.VolumeMount
	if u == catalog.NonRoot {
		params = append(params, str(ParamTempVolume, "Name of an emptyDir volume of the calling Task, mounted at "+catalog.TempDir+
			" as the executor's scratch directory (TMPDIR): without root it builds there, and the image has no "+catalog.TempDir+".", ptr(volumeTemp)))
		description = "Builds a Dockerfile without RUN into a container image and pushes it with the kaniko-build executor, " +
			"as one step of your own Task, as a user other than root with no capabilities (PodSecurity \"restricted\"). " +
			"The Task declares the emptyDir volume TMP_VOLUME names. The results are step results, as kaniko-build's."
		displayName, tags = "Kaniko Build (non-root)", nonRootTags
		mounts = []corev1.VolumeMount{{Name: param(ParamTempVolume), MountPath: catalog.TempDir}}
	}
	return &v1beta1.StepAction{
		TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1beta1", Kind: "StepAction"},
		ObjectMeta: objectMeta(Name+u.Suffix(), stepActionMinVersion, displayName, tags),
		Spec: v1beta1.StepActionSpec{
			Description: description,
			Image:       param(ParamBuilderImage),
			WorkingDir:  param(ParamSourcePath),
			Command:     []string{catalog.Executor},
			Args: executorArgs(paths{
				source:   param(ParamSourcePath),
				cacheDir: param(ParamCacheDir),
				digest:   ref("step.results." + ResultImageDigest + ".path"),
				url:      ref("step.results." + ResultImageURL + ".path"),
				images:   ref("step.results." + ResultImages + ".path"),
			}),
			Env:             append([]corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: param(ParamDockerConfig)}}, u.TempEnv()...),
			Params:          params,
			Results:         stepResults(taskResults()),
			SecurityContext: u.SecurityContext(),
			VolumeMounts:    mounts,
		},
	}
}

// stepResults are a Task's results as a StepAction's.
func stepResults(rs []v1.TaskResult) []v1.StepResult {
	var out []v1.StepResult
	for _, r := range rs {
		out = append(out, v1.StepResult{Name: r.Name, Type: r.Type, Description: r.Description})
	}
	return out
}
