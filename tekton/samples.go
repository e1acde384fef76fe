package tekton

import (
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names the samples use for things the user creates.
const (
	sampleSourceClaim  = "kaniko-build-source"
	sampleDockerSecret = "registry-credentials"
	samplePipeline     = "kaniko-build-base-and-app"
	sampleStepTask     = "kaniko-build-with-stepaction"
	sampleRegistry     = "registry.example.com/team"
	sourceWriterImage  = "docker.io/library/busybox:1.37"
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
	return v1.PipelineTask{
		Name: "write-dockerfiles",
		TaskSpec: &v1.EmbeddedTask{TaskSpec: v1.TaskSpec{
			Workspaces: []v1.WorkspaceDeclaration{{Name: WorkspaceSource}},
			Steps: []v1.Step{{
				Name:       "write",
				Image:      sourceWriterImage,
				WorkingDir: ref("workspaces." + WorkspaceSource + ".path"),
				Script: "#!/bin/sh\nset -eu\nmkdir -p base app\n" +
					"cat > base/Dockerfile <<'EOF'\n" + baseDockerfile + "EOF\n" +
					"cat > app/Dockerfile <<'EOF'\n" + appDockerfile + "EOF\n",
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
