package argo

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkflowTemplate returns the kaniko-build WorkflowTemplate.
func WorkflowTemplate() *wfv1.WorkflowTemplate {
	return &wfv1.WorkflowTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "WorkflowTemplate"},
		ObjectMeta: objectMeta(),
		Spec:       spec(),
	}
}

// ClusterWorkflowTemplate returns the same templates cluster-wide.
func ClusterWorkflowTemplate() *wfv1.ClusterWorkflowTemplate {
	return &wfv1.ClusterWorkflowTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "ClusterWorkflowTemplate"},
		ObjectMeta: objectMeta(),
		Spec:       spec(),
	}
}

func objectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:   Name,
		Labels: map[string]string{"app.kubernetes.io/version": Version},
		Annotations: map[string]string{
			"workflows.argoproj.io/description": "Builds a Dockerfile into a container image and pushes it with the " +
				"kaniko-build executor: no Docker daemon, no privileges. Joins images built per platform into one index.",
			"workflows.argoproj.io/maintainer": "kaniko-build maintainers",
			"workflows.argoproj.io/tags":       "image-build, kaniko, dockerfile",
			"workflows.argoproj.io/version":    argoVersion,
		},
	}
}

// argoVersion is the Argo Workflows range the templates are written for:
// template-level volumes, emissary executor, expression tags.
const argoVersion = ">= 3.4.0"

// spec holds the templates. Its entrypoint and arguments are for
// `argo submit --from workflowtemplate/kaniko-build -p image=...`: the
// controller passes the Workflow's arguments to the entrypoint template's
// inputs. templateRef callers pass arguments per task and use neither.
func spec() wfv1.WorkflowSpec {
	return wfv1.WorkflowSpec{
		Entrypoint: TemplateBuild,
		Arguments:  wfv1.Arguments{Parameters: submitParams(inputParams(sourcePath))},
		Templates: []wfv1.Template{
			buildTemplate(TemplateBuild, sourcePath, catalog.Root),
			buildTemplate(TemplateBuildFromVolume, workspacePath, catalog.Root),
			buildTemplate(TemplateBuildNonRoot, sourcePath, catalog.NonRoot),
			indexTemplate(),
		},
	}
}

// buildTemplate is one container that runs the executor as u. context is
// the default build context; build and build-nonroot read it from the
// "source" artifact, build-from-volume from the caller's "workspace"
// volume.
func buildTemplate(name, context string, u catalog.User) wfv1.Template {
	mounts := []corev1.VolumeMount{
		{Name: volumeOutputs, MountPath: outputsPath},
		{Name: volumeCredentials, MountPath: catalog.DockerConfigDir},
		{Name: volumeNoToken, MountPath: catalog.ServiceAccountDir, ReadOnly: true},
	}
	volumes := append(credentialVolumes(),
		corev1.Volume{Name: volumeNoToken, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	if u == catalog.NonRoot {
		mounts = append(mounts, corev1.VolumeMount{Name: volumeTemp, MountPath: catalog.TempDir})
		volumes = append(volumes, corev1.Volume{Name: volumeTemp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	inputs := wfv1.Inputs{Parameters: inputParams(context)}
	if name == TemplateBuildFromVolume {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeWorkspace, MountPath: workspacePath})
	} else {
		inputs.Artifacts = wfv1.Artifacts{{
			Name:     ArtifactSource,
			Path:     sourcePath,
			Optional: true,
		}}
	}
	return wfv1.Template{
		Name:    name,
		Inputs:  inputs,
		Outputs: outputs(),
		Volumes: volumes,
		// The Secret is mounted here alone: the main container reads a
		// copy once and deletes it before any RUN (--consume-credentials).
		InitContainers: copyCredentials(u),
		Container: &corev1.Container{
			Image:   input(ParamBuilderImage),
			Command: []string{catalog.Executor},
			Args:    executorArgs(),
			// "/", not the context: a relative dockerfile is then found in
			// the context, and a git:// or missing context cannot break
			// the container's start.
			WorkingDir:      "/",
			Env:             append([]corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: catalog.DockerConfigDir}}, u.TempEnv()...),
			VolumeMounts:    mounts,
			SecurityContext: u.SecurityContext(),
		},
	}
}

// credentialVolumes are the outputs' directory, the docker-config Secret
// and the main container's copy of it.
func credentialVolumes() []corev1.Volume {
	return []corev1.Volume{
		{Name: volumeOutputs, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: volumeDockerConfig, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: input(ParamDockerConfigSecret),
			Optional:   boolPtr(true),
		}}},
		{Name: volumeCredentials, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	}
}

// copyCredentials is the init container that copies the Secret, mounted
// there alone, for the main container; it runs as the main container's
// user, who must read and delete the copy.
func copyCredentials(u catalog.User) []wfv1.UserContainer {
	return []wfv1.UserContainer{{Container: corev1.Container{
		Name:    "copy-credentials",
		Image:   input(ParamBuilderImage),
		Command: []string{catalog.Executor},
		Args:    []string{"copy-credentials", secretPath, catalog.DockerConfigDir},
		VolumeMounts: []corev1.VolumeMount{
			{Name: volumeDockerConfig, MountPath: secretPath, ReadOnly: true},
			{Name: volumeCredentials, MountPath: catalog.DockerConfigDir},
		},
		SecurityContext: u.SecurityContext(),
	}}}
}

// indexTemplate runs `executor index` on the images given as a JSON list,
// the form Argo aggregates a withItems task's output parameter into. No
// RUN happens here: nothing covers the service account token. Joining
// needs no root: it runs as the non-root user, as build-nonroot.
func indexTemplate() wfv1.Template {
	return wfv1.Template{
		Name:           TemplateIndex,
		Inputs:         wfv1.Inputs{Parameters: indexInputParams()},
		Outputs:        indexOutputs(),
		Volumes:        credentialVolumes(),
		InitContainers: copyCredentials(catalog.NonRoot),
		Container: &corev1.Container{
			Image:   input(ParamBuilderImage),
			Command: []string{catalog.Executor},
			Args:    indexArgs(),
			Env:     []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: catalog.DockerConfigDir}},
			VolumeMounts: []corev1.VolumeMount{
				{Name: volumeOutputs, MountPath: outputsPath},
				{Name: volumeCredentials, MountPath: catalog.DockerConfigDir},
			},
			SecurityContext: catalog.NonRoot.SecurityContext(),
		},
	}
}

func indexArgs() []string {
	return []string{
		"index",
		"--destination=" + input(ParamImage),
		"--digest-file=" + outputsPath + "/" + OutputDigest,
		"--image-url-file=" + outputsPath + "/" + OutputImageURL,
		"--images-file=" + outputsPath + "/" + OutputImages,
		"--image-format=" + input(ParamFormat),
		"--insecure-registry=" + input(ParamInsecureRegistry),
		// JSON lists, as for a build: Argo cannot expand a list into
		// several arguments.
		"--images-json=" + input(ParamImages),
		"--extra-args-json=" + input(ParamExtraArgs),
	}
}

// secretPath is where the init container reads the docker-config Secret.
const secretPath = "/workspace/docker-config"

func input(name string) string { return "{{inputs.parameters." + name + "}}" }

func executorArgs() []string {
	return []string{
		"--consume-credentials",
		"--context=" + input(ParamContext),
		"--dockerfile=" + input(ParamDockerfile),
		"--destination=" + input(ParamImage),
		"--digest-file=" + outputsPath + "/" + OutputDigest,
		"--image-url-file=" + outputsPath + "/" + OutputImageURL,
		"--images-file=" + outputsPath + "/" + OutputImages,
		"--target=" + input(ParamTarget),
		"--cache=" + input(ParamCache),
		"--cache-repo=" + input(ParamCacheRepo),
		"--insecure-registry=" + input(ParamInsecureRegistry),
		"--custom-platform=" + input(ParamPlatform),
		"--push-by-digest=" + input(ParamPushByDigest),
		// Argo checks no expression tag, so render_test.go evaluates this
		// one with Argo's own substitution.
		"--tar-path={{=inputs.parameters['" + ParamSaveTar + "'] == 'true' ? '" + tarPath + "' : ''}}",
		// Argo cannot expand a list into several arguments: the executor
		// takes the JSON lists as they are.
		"--build-args-json=" + input(ParamBuildArgs),
		"--extra-args-json=" + input(ParamExtraArgs),
	}
}

func boolPtr(b bool) *bool { return &b }
