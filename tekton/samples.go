package tekton

import (
	"strings"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/pod"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names the samples use for things the user creates.
const (
	sampleSourceClaim   = "kaniko-build-source"
	sampleDockerSecret  = "registry-credentials"
	samplePipeline      = "kaniko-build-base-and-app"
	sampleMultiPlatform = "kaniko-build-multi-platform"
	sampleIndexStepTask = "kaniko-build-index-with-stepaction"
	sampleRegistry      = "registry.example.com/team"
	sourceWriterImage   = "docker.io/library/busybox:1.37"
)

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: kind}
}

func strParam(name, value string) v1.Param {
	return v1.Param{Name: name, Value: *v1.NewStructuredValues(value)}
}

func arrParam(name string, values ...string) v1.Param {
	return v1.Param{Name: name, Value: v1.ParamValue{Type: v1.ParamTypeArray, ArrayVal: values}}
}

// dockerSecretBinding binds a kubernetes.io/dockerconfigjson Secret as is;
// the executor reads its .dockerconfigjson key when config.json is absent.
func dockerSecretBinding(name string) v1.WorkspaceBinding {
	return v1.WorkspaceBinding{Name: name, Secret: &corev1.SecretVolumeSource{SecretName: sampleDockerSecret}}
}

// SampleTaskRun runs the Task on a source already in a PersistentVolumeClaim.
func SampleTaskRun() *v1.TaskRun {
	return &v1.TaskRun{
		TypeMeta:   typeMeta("TaskRun"),
		ObjectMeta: metav1.ObjectMeta{GenerateName: Name + "-run-"},
		Spec: v1.TaskRunSpec{
			TaskRef: &v1.TaskRef{Name: Name},
			Params: v1.Params{
				strParam(ParamImage, sampleRegistry+"/app:latest"),
				arrParam(ParamBuildArgs, "VERSION=1.2.3"),
			},
			Workspaces: []v1.WorkspaceBinding{
				{Name: WorkspaceSource, PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: sampleSourceClaim}},
				dockerSecretBinding(WorkspaceDockerConfig),
			},
		},
	}
}

// SampleHostUsersTaskRun is SampleTaskRun in a pod with a user namespace
// of its own (hostUsers: false): the build's root, RUN included, is an
// unprivileged user on the node.
func SampleHostUsersTaskRun() *v1.TaskRun {
	tr := SampleTaskRun()
	tr.GenerateName = Name + "-host-users-run-"
	hostUsers := false
	tr.Spec.PodTemplate = &pod.Template{HostUsers: &hostUsers}
	return tr
}

// SampleNonRootTaskRun runs the non-root Task as SampleTaskRun runs
// kaniko-build; the source's Dockerfile must have no RUN.
func SampleNonRootTaskRun() *v1.TaskRun {
	tr := SampleTaskRun()
	tr.GenerateName = NonRootName + "-run-"
	tr.Spec.TaskRef = &v1.TaskRef{Name: NonRootName}
	return tr
}

// SampleTaskRunGitResolver runs the Task straight from this repository with
// the git resolver, so nothing has to be installed first.
func SampleTaskRunGitResolver() *v1.TaskRun {
	tr := SampleTaskRun()
	tr.GenerateName = Name + "-git-resolver-run-"
	tr.Spec.TaskRef = &v1.TaskRef{ResolverRef: v1.ResolverRef{
		Resolver: "git",
		Params: v1.Params{
			strParam("url", "https://github.com/kaniko-build/kaniko-build.git"),
			strParam("revision", "main"),
			strParam("pathInRepo", taskDir+"/"+Name+".yaml"),
		},
	}}
	return tr
}

// baseDockerfile and appDockerfile are what the pipeline sample builds: the
// app is FROM the base, pinned by the digest the first build reported.
const (
	baseDockerfile = "FROM docker.io/library/busybox:1.37\nRUN echo base > /base.txt\n"
	appDockerfile  = "ARG BASE\nFROM ${BASE}\nRUN cat /base.txt && echo app > /app.txt\nCMD [\"cat\", \"/base.txt\", \"/app.txt\"]\n"
)

// SamplePipeline writes two Dockerfiles into the source workspace, builds
// the base image, then builds the app image FROM that base pinned by
// $(tasks.build-base.results.IMAGE_URL)@$(tasks.build-base.results.IMAGE_DIGEST).
func SamplePipeline() *v1.Pipeline {
	build := func(name, image, context string, extra ...v1.Param) v1.PipelineTask {
		return v1.PipelineTask{
			Name:    name,
			TaskRef: &v1.TaskRef{Name: Name},
			Params: append(v1.Params{
				strParam(ParamImage, image),
				strParam(ParamContext, context),
				strParam(ParamDockerfile, "./"+context+"/Dockerfile"),
			}, extra...),
			Workspaces: []v1.WorkspacePipelineTaskBinding{
				{Name: WorkspaceSource, Workspace: WorkspaceSource},
				{Name: WorkspaceDockerConfig, Workspace: WorkspaceDockerConfig},
			},
			RunAfter: []string{"write-dockerfiles"},
		}
	}
	pinnedBase := "BASE=" + ref("tasks.build-base.results."+ResultImageURL) + "@" + ref("tasks.build-base.results."+ResultImageDigest)
	return &v1.Pipeline{
		TypeMeta:   typeMeta("Pipeline"),
		ObjectMeta: metav1.ObjectMeta{Name: samplePipeline},
		Spec: v1.PipelineSpec{
			Description: "Builds a base image, then an app image FROM that base pinned by digest.",
			Params: v1.ParamSpecs{
				str("base-image", "Where to push the base image.", nil),
				str("app-image", "Where to push the app image.", nil),
			},
			Workspaces: []v1.PipelineWorkspaceDeclaration{
				{Name: WorkspaceSource},
				{Name: WorkspaceDockerConfig, Optional: true},
			},
			Tasks: []v1.PipelineTask{
				writeDockerfiles(),
				build("build-base", param("base-image"), "base"),
				build("build-app", param("app-image"), "app", arrParam(ParamBuildArgs, pinnedBase)),
			},
			Results: []v1.PipelineResult{{
				Name:  "APP_IMAGE",
				Value: *v1.NewStructuredValues(ref("tasks.build-app.results."+ResultImageURL) + "@" + ref("tasks.build-app.results."+ResultImageDigest)),
			}},
		},
	}
}

// writeDockerfiles stands in for a git-clone: it puts the two Dockerfiles
// into the source workspace.
func writeDockerfiles() v1.PipelineTask {
	return writeDockerfilesTask("write-dockerfiles", dockerfile{"base", baseDockerfile}, dockerfile{"app", appDockerfile})
}

// dockerfile is a Dockerfile a sample writes into dir of the source.
type dockerfile struct{ dir, content string }

func writeDockerfilesTask(name string, files ...dockerfile) v1.PipelineTask {
	dirs := make([]string, 0, len(files))
	for _, f := range files {
		dirs = append(dirs, f.dir)
	}
	script := "#!/bin/sh\nset -eu\nmkdir -p " + strings.Join(dirs, " ") + "\n"
	for _, f := range files {
		script += "cat > " + f.dir + "/Dockerfile <<'EOF'\n" + f.content + "EOF\n"
	}
	return v1.PipelineTask{
		Name: name,
		TaskSpec: &v1.EmbeddedTask{TaskSpec: v1.TaskSpec{
			Workspaces: []v1.WorkspaceDeclaration{{Name: WorkspaceSource}},
			Steps: []v1.Step{{
				Name:       "write",
				Image:      sourceWriterImage,
				WorkingDir: ref("workspaces." + WorkspaceSource + ".path"),
				Script:     script,
			}},
		}},
		Workspaces: []v1.WorkspacePipelineTaskBinding{{Name: WorkspaceSource, Workspace: WorkspaceSource}},
	}
}

// SamplePipelineRun runs SamplePipeline on a fresh volume.
func SamplePipelineRun() *v1.PipelineRun {
	return &v1.PipelineRun{
		TypeMeta:   typeMeta("PipelineRun"),
		ObjectMeta: metav1.ObjectMeta{GenerateName: samplePipeline + "-run-"},
		Spec: v1.PipelineRunSpec{
			PipelineRef: &v1.PipelineRef{Name: samplePipeline},
			Params: v1.Params{
				strParam("base-image", sampleRegistry+"/base:latest"),
				strParam("app-image", sampleRegistry+"/app:latest"),
			},
			Workspaces: []v1.WorkspaceBinding{
				{Name: WorkspaceSource, VolumeClaimTemplate: volumeClaimTemplate("1Gi")},
				dockerSecretBinding(WorkspaceDockerConfig),
			},
		},
	}
}

func volumeClaimTemplate(size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			},
		},
	}
}

// platformDockerfile is what the multi-platform sample builds: its RUN
// runs the platform's own uname, under QEMU on a foreign node.
const platformDockerfile = "FROM docker.io/library/busybox:1.37\nRUN uname -m > /arch.txt\nCMD [\"cat\", \"/arch.txt\"]\n"

// The multi-platform sample's parameters.
const (
	paramPlatforms  = "PLATFORMS"
	paramRepository = "image"
	paramTag        = "tag"
)

// samplePlatforms are the platforms the multi-platform sample builds by
// default: those the executor image is published for.
var samplePlatforms = []string{"linux/amd64", "linux/arm64"}

// SampleMultiPlatformPipeline fans the build out over PLATFORMS with a
// matrix, each build pushed by digest to the repository, then joins the
// builds' IMAGES, which Tekton aggregates into an array, with the index
// Task. The Pipeline's results are the index's, for Tekton Chains.
func SampleMultiPlatformPipeline() *v1.Pipeline {
	return &v1.Pipeline{
		TypeMeta:   typeMeta("Pipeline"),
		ObjectMeta: metav1.ObjectMeta{Name: sampleMultiPlatform},
		Spec: v1.PipelineSpec{
			Description: "Builds the image once per platform, each pushed by digest, then joins them into one image index.",
			Params: v1.ParamSpecs{
				{
					Name:        paramPlatforms,
					Type:        v1.ParamTypeArray,
					Description: "The platforms to build for, one TaskRun each.",
					Default:     &v1.ParamValue{Type: v1.ParamTypeArray, ArrayVal: samplePlatforms},
				},
				str(paramRepository, "The repository, e.g. registry.example.com/team/app: each platform's image is pushed there by digest, the index as image:tag.", nil),
				str(paramTag, "The tag of the index.", ptr("latest")),
			},
			Workspaces: []v1.PipelineWorkspaceDeclaration{
				{Name: WorkspaceSource},
				{Name: WorkspaceDockerConfig, Optional: true},
			},
			Tasks: []v1.PipelineTask{
				writeDockerfilesTask("write-dockerfile", dockerfile{"platform", platformDockerfile}),
				{
					Name:    "build",
					TaskRef: &v1.TaskRef{Name: Name},
					Params: v1.Params{
						strParam(ParamImage, param(paramRepository)),
						strParam(ParamContext, "platform"),
						strParam(ParamDockerfile, "./platform/Dockerfile"),
						strParam(ParamPushByDigest, "true"),
					},
					Matrix: &v1.Matrix{Params: v1.Params{strParam(ParamPlatform, arrayParam(paramPlatforms))}},
					Workspaces: []v1.WorkspacePipelineTaskBinding{
						{Name: WorkspaceSource, Workspace: WorkspaceSource},
						{Name: WorkspaceDockerConfig, Workspace: WorkspaceDockerConfig},
					},
					RunAfter: []string{"write-dockerfile"},
				},
				{
					Name:    "index",
					TaskRef: &v1.TaskRef{Name: IndexName},
					Params: v1.Params{
						strParam(ParamImage, param(paramRepository)+":"+param(paramTag)),
						// One repository@digest per build: Tekton gathers the string
						// result of each of the matrix's TaskRuns into an array.
						strParam(ParamImages, ref("tasks.build.results."+ResultImages+"[*]")),
					},
					Workspaces: []v1.WorkspacePipelineTaskBinding{{Name: WorkspaceDockerConfig, Workspace: WorkspaceDockerConfig}},
				},
			},
			Results: []v1.PipelineResult{{
				Name:        ResultImageDigest,
				Description: "Digest of the image index.",
				Value:       *v1.NewStructuredValues(ref("tasks.index.results." + ResultImageDigest)),
			}, {
				Name:        ResultImageURL,
				Description: "The image index's name, image:tag.",
				Value:       *v1.NewStructuredValues(ref("tasks.index.results." + ResultImageURL)),
			}},
		},
	}
}

// SampleMultiPlatformPipelineRun runs SampleMultiPlatformPipeline on a
// fresh volume, for the default PLATFORMS.
func SampleMultiPlatformPipelineRun() *v1.PipelineRun {
	return &v1.PipelineRun{
		TypeMeta:   typeMeta("PipelineRun"),
		ObjectMeta: metav1.ObjectMeta{GenerateName: sampleMultiPlatform + "-run-"},
		Spec: v1.PipelineRunSpec{
			PipelineRef: &v1.PipelineRef{Name: sampleMultiPlatform},
			Params: v1.Params{
				strParam(paramRepository, sampleRegistry+"/app"),
				strParam(paramTag, "1.0"),
			},
			Workspaces: []v1.WorkspaceBinding{
				{Name: WorkspaceSource, VolumeClaimTemplate: volumeClaimTemplate("1Gi")},
				dockerSecretBinding(WorkspaceDockerConfig),
			},
		},
	}
}

// sampleDigests stand for what two builds by digest reported.
var sampleDigests = []string{"sha256:" + strings.Repeat("1", 64), "sha256:" + strings.Repeat("2", 64)}

// SampleIndexTaskRun joins two images already pushed by digest.
func SampleIndexTaskRun() *v1.TaskRun {
	return &v1.TaskRun{
		TypeMeta:   typeMeta("TaskRun"),
		ObjectMeta: metav1.ObjectMeta{GenerateName: IndexName + "-run-"},
		Spec: v1.TaskRunSpec{
			TaskRef: &v1.TaskRef{Name: IndexName},
			Params: v1.Params{
				strParam(ParamImage, sampleRegistry+"/app:1.0"),
				arrParam(ParamImages, sampleRegistry+"/app@"+sampleDigests[0], sampleRegistry+"/app@"+sampleDigests[1]),
			},
			Workspaces: []v1.WorkspaceBinding{dockerSecretBinding(WorkspaceDockerConfig)},
		},
	}
}
