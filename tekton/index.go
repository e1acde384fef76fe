package tekton

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IndexTask returns the kaniko-build-index Task: the join step of a
// multi-platform build fanned out per platform. It runs `executor index`
// on the images the builds pushed by digest.
func IndexTask() *v1.Task {
	return &v1.Task{
		TypeMeta:   typeMeta("Task"),
		ObjectMeta: objectMeta(IndexName, minVersion, "Kaniko Build Index", indexTags),
		Spec: v1.TaskSpec{
			Description: "Joins images built one platform each (by the kaniko-build Task with PUSH_BY_DIGEST) into " +
				"one image index and pushes it, using the kaniko-build executor.\n\n" +
				"The digest and the name of the index are written as results by the executor itself, in the form " +
				"Tekton Chains reads.",
			Params:     indexParams(),
			Workspaces: []v1.WorkspaceDeclaration{indexDockerConfigWorkspace()},
			Results:    indexResults(),
			// Joining needs no root: both steps run as the non-root user,
			// which PodSecurity "restricted" admits.
			Steps: []v1.Step{copyCredentialsStep(catalog.NonRoot), indexTaskStep()},
			// No RUN happens here: nothing covers the service account token.
			Volumes: []corev1.Volume{credentialsVolume()},
		},
	}
}

// indexParams are the parameters the index Task and StepAction share.
func indexParams() v1.ParamSpecs {
	return v1.ParamSpecs{
		str(ParamImage, "Where to push the image index, e.g. registry.example.com/team/app:1.2.", nil),
		arrRequired(ParamImages, "The images to join, one per platform, each REF@DIGEST: the IMAGES results of kaniko-build runs "+
			"with PUSH_BY_DIGEST=\"true\", e.g. $(tasks.build.results.IMAGES[*]) of a matrix. The platform of each is the one its config names."),
		str(ParamFormat, "oci pushes an OCI image index, docker a Docker manifest list.", ptr("oci")),
		str(ParamInsecureRegistry, "A registry (host[:port]) to reach over plain HTTP, e.g. an in-cluster registry; empty for none.", ptr("")),
		str(ParamBuilderImage, "The executor image. The default is the released image pinned by digest.", ptr(catalog.BuilderImage())),
		arr(ParamExtraArgs, "Extra flags of executor index, e.g. --registry-certificate=REGISTRY=FILE or --destination for one more tag. They come after the Task's own."),
	}
}

func indexDockerConfigWorkspace() v1.WorkspaceDeclaration {
	return v1.WorkspaceDeclaration{
		Name: WorkspaceDockerConfig,
		Description: "Registry credentials, as for kaniko-build: a Secret (or other volume) holding config.json, or a " +
			"kubernetes.io/dockerconfigjson Secret as is. Mounted in the first step alone, which copies it for the " +
			"push step; unbound means anonymous access.",
		ReadOnly: true,
		Optional: true,
	}
}

func indexResults() []v1.TaskResult {
	return []v1.TaskResult{{
		Name:        ResultImageDigest,
		Type:        v1.ResultsTypeString,
		Description: "Digest of the image index, sha256:<hex>, with no trailing newline.",
	}, {
		Name:        ResultImageURL,
		Type:        v1.ResultsTypeString,
		Description: "The IMAGE the index was pushed as, e.g. registry.example.com/team/app:1.2.",
	}, {
		Name:        ResultImages,
		Type:        v1.ResultsTypeString,
		Description: "Every destination as given, pinned by the index's digest (name:tag@sha256:<hex>), one per line.",
	}}
}

func indexTaskStep() v1.Step {
	return v1.Step{
		Name:    indexStepName,
		Image:   param(ParamBuilderImage),
		Command: []string{catalog.Executor},
		Args: indexArgs(paths{
			digest: ref("results." + ResultImageDigest + ".path"),
			url:    ref("results." + ResultImageURL + ".path"),
			images: ref("results." + ResultImages + ".path"),
		}),
		Env:             []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: catalog.DockerConfigDir}},
		VolumeMounts:    []corev1.VolumeMount{{Name: volumeCredentials, MountPath: catalog.DockerConfigDir}},
		SecurityContext: catalog.NonRoot.SecurityContext(),
	}
}

// indexArgs are the executor arguments the index Task and StepAction pass.
func indexArgs(p paths) []string {
	return []string{
		"index",
		"--destination=" + param(ParamImage),
		"--digest-file=" + p.digest,
		"--image-url-file=" + p.url,
		"--images-file=" + p.images,
		"--image-format=" + param(ParamFormat),
		"--insecure-registry=" + param(ParamInsecureRegistry),
		arrayParam(ParamExtraArgs),
		// Tekton expands an array only into whole arguments, so the
		// images follow a lone --, as a build's BUILD_ARGS do.
		"--",
		arrayParam(ParamImages),
	}
}

// IndexStepAction returns the kaniko-build-index StepAction: the index
// Task's push step, with the credentials directory as a parameter.
func IndexStepAction() *v1beta1.StepAction {
	params := append(indexParams(),
		str(ParamDockerConfig, "Directory holding config.json (or .dockerconfigjson) with registry credentials.", ptr(catalog.DockerConfigDir)),
	)
	return &v1beta1.StepAction{
		TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1beta1", Kind: "StepAction"},
		ObjectMeta: objectMeta(IndexName, stepActionMinVersion, "Kaniko Build Index", indexTags),
		Spec: v1beta1.StepActionSpec{
			Description: "Joins images built one platform each into one image index and pushes it with the " +
				"kaniko-build executor, as one step of your own Task. The results IMAGE_DIGEST, IMAGE_URL and IMAGES " +
				"are step results: map them to Task results with $(steps.<step>.results.<name>).",
			Image:   param(ParamBuilderImage),
			Command: []string{catalog.Executor},
			Args: indexArgs(paths{
				digest: ref("step.results." + ResultImageDigest + ".path"),
				url:    ref("step.results." + ResultImageURL + ".path"),
				images: ref("step.results." + ResultImages + ".path"),
			}),
			Env:             []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: param(ParamDockerConfig)}},
			Params:          params,
			Results:         stepResults(indexResults()),
			SecurityContext: catalog.NonRoot.SecurityContext(),
		},
	}
}
