package tekton

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// minVersion is the oldest Tekton Pipelines release the Task runs on:
// tekton.dev/v1 Tasks with array parameters and optional workspaces.
const minVersion = "0.50.0"

// Task returns the kaniko-build Task.
func Task() *v1.Task { return buildTask(catalog.Root) }

// NonRootTask returns the kaniko-build-nonroot Task: the same steps, run
// as catalog.NonRootUID with nothing more (PodSecurity "restricted"), and
// a scratch directory; it builds Dockerfiles without RUN.
func NonRootTask() *v1.Task { return buildTask(catalog.NonRoot) }

func buildTask(u catalog.User) *v1.Task {
	description := "Builds a Dockerfile into a container image and pushes it, without a Docker daemon and " +
		"without privileges, using the kaniko-build executor (the successor of Kaniko).\n\n" +
		"The parameters IMAGE, DOCKERFILE, CONTEXT, EXTRA_ARGS and BUILDER_IMAGE match the Tekton catalog's " +
		"kaniko task. The digest and the image name are written as results by the executor itself, in the " +
		"form Tekton Chains reads."
	displayName, tags := "Kaniko Build", buildTags
	if u == catalog.NonRoot {
		description = "Builds a Dockerfile without RUN (FROM, COPY, ADD, WORKDIR, ENV, USER, ...) into a container image " +
			"and pushes it, as a user other than root with no capabilities, which PodSecurity \"restricted\" admits, " +
			"using the kaniko-build executor.\n\n" +
			"The parameters, workspaces and results are kaniko-build's. A RUN fails the build before anything is " +
			"pulled: build those with kaniko-build, in a pod with hostUsers: false to keep root off the node."
		displayName, tags = "Kaniko Build (non-root)", nonRootTags
	}
	return &v1.Task{
		TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "Task"},
		ObjectMeta: objectMeta(Name+u.Suffix(), minVersion, displayName, tags),
		Spec: v1.TaskSpec{
			Description: description,
			Params:      buildParams(),
			Workspaces:  taskWorkspaces(u),
			Results:     taskResults(),
			Steps:       []v1.Step{copyCredentialsStep(u), taskStep(u)},
			Volumes:     taskVolumes(u),
		},
	}
}

// The tekton.dev/tags of the build and of the index.
const (
	buildTags   = "image-build, kaniko, dockerfile"
	nonRootTags = "image-build, kaniko, dockerfile, non-root"
	indexTags   = "image-build, kaniko, multi-platform, image-index"
)

func objectMeta(name, minVersion, displayName, tags string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{"app.kubernetes.io/version": Version},
		Annotations: annotations(minVersion, displayName, tags),
	}
}

func annotations(minVersion, displayName, tags string) map[string]string {
	return map[string]string{
		"tekton.dev/pipelines.minVersion": minVersion,
		"tekton.dev/categories":           "Image Build",
		"tekton.dev/tags":                 tags,
		"tekton.dev/displayName":          displayName,
		"tekton.dev/platforms":            "linux/amd64,linux/arm64",
		"artifacthub.io/category":         "integration-delivery",
		"artifacthub.io/license":          "Apache-2.0",
		"artifacthub.io/provider":         "kaniko-build",
		"artifacthub.io/links": "- name: Source\n  url: https://github.com/kaniko-build/kaniko-build\n" +
			"- name: Executor flags\n  url: https://github.com/kaniko-build/kaniko-build#executor-flags\n",
		"artifacthub.io/changes": "- kind: added\n  description: First release.\n",
	}
}

func taskWorkspaces(u catalog.User) []v1.WorkspaceDeclaration {
	cache := "Kept between runs: cached base images and the contents of RUN --mount=type=cache " +
		"directories. Unbound means no local cache."
	if u == catalog.NonRoot {
		cache = "Kept between runs: cached base images. Unbound means no local cache. The build writes it as " +
			"user 65532: set fsGroup: 65532 in the run's podTemplate securityContext if the volume does not let it."
	}
	return []v1.WorkspaceDeclaration{{
		Name:        WorkspaceSource,
		Description: "Holds the build context; CONTEXT and DOCKERFILE are relative to it.",
	}, {
		Name: WorkspaceDockerConfig,
		Description: "Registry credentials: a Secret (or other volume) holding config.json, or a " +
			"kubernetes.io/dockerconfigjson Secret as is (its .dockerconfigjson key). Mounted in the first " +
			"step alone, which copies it for the build step to read once and delete before any RUN; " +
			"unbound means anonymous access.",
		ReadOnly: true,
		Optional: true,
	}, {
		Name:        WorkspaceCache,
		Description: cache,
		Optional:    true,
	}}
}

func taskResults() []v1.TaskResult {
	return []v1.TaskResult{{
		Name:        ResultImageDigest,
		Type:        v1.ResultsTypeString,
		Description: "Digest of the built image, sha256:<hex>, with no trailing newline.",
	}, {
		Name:        ResultImageURL,
		Type:        v1.ResultsTypeString,
		Description: "The IMAGE it was pushed as, e.g. registry.example.com/team/app:1.2.",
	}, {
		Name:        ResultImages,
		Type:        v1.ResultsTypeString,
		Description: "Every destination as given, pinned by digest (name:tag@sha256:<hex>, or repository@sha256:<hex> with PUSH_BY_DIGEST), one per line.",
	}}
}

// Task volumes: the build step's copy of the credentials, what covers
// the service account token in the build step, and the non-root build's
// scratch directory.
const (
	volumeCredentials = "kaniko-credentials"
	volumeNoToken     = "no-service-account-token"
	volumeTemp        = "kaniko-tmp"
)

func taskVolumes(u catalog.User) []corev1.Volume {
	vols := []corev1.Volume{
		credentialsVolume(),
		{Name: volumeNoToken, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if u == catalog.NonRoot {
		vols = append(vols, corev1.Volume{Name: volumeTemp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	return vols
}

// credentialsVolume holds the copy of the credentials, in memory.
func credentialsVolume() corev1.Volume {
	return corev1.Volume{Name: volumeCredentials, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}
}

// copyCredentialsStep copies the credentials workspace, isolated to this
// step, to a volume the build step consumes (--consume-credentials): a
// RUN never finds the Secret mounted. It runs as the build step's user,
// who must read and delete the copy.
func copyCredentialsStep(u catalog.User) v1.Step {
	return v1.Step{
		Name:            copyStepName,
		Image:           param(ParamBuilderImage),
		Command:         []string{catalog.Executor},
		Args:            []string{"copy-credentials", ref("workspaces." + WorkspaceDockerConfig + ".path"), catalog.DockerConfigDir},
		Workspaces:      []v1.WorkspaceUsage{{Name: WorkspaceDockerConfig, MountPath: "/workspace/" + WorkspaceDockerConfig}},
		VolumeMounts:    []corev1.VolumeMount{{Name: volumeCredentials, MountPath: catalog.DockerConfigDir}},
		SecurityContext: u.SecurityContext(),
	}
}

func taskStep(u catalog.User) v1.Step {
	mounts := []corev1.VolumeMount{
		{Name: volumeCredentials, MountPath: catalog.DockerConfigDir},
		{Name: volumeNoToken, MountPath: catalog.ServiceAccountDir, ReadOnly: true},
	}
	if u == catalog.NonRoot {
		mounts = append(mounts, corev1.VolumeMount{Name: volumeTemp, MountPath: catalog.TempDir})
	}
	return v1.Step{
		Name:       stepName,
		Image:      param(ParamBuilderImage),
		WorkingDir: ref("workspaces." + WorkspaceSource + ".path"),
		Command:    []string{catalog.Executor},
		// The copy of the credentials is read once and deleted before
		// any RUN.
		Args: append([]string{"--consume-credentials"}, executorArgs(paths{
			source:   ref("workspaces." + WorkspaceSource + ".path"),
			cacheDir: ref("workspaces." + WorkspaceCache + ".path"),
			digest:   ref("results." + ResultImageDigest + ".path"),
			url:      ref("results." + ResultImageURL + ".path"),
			images:   ref("results." + ResultImages + ".path"),
		})...),
		Env:             append([]corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: catalog.DockerConfigDir}}, u.TempEnv()...),
		VolumeMounts:    mounts,
		SecurityContext: u.SecurityContext(),
	}
}
