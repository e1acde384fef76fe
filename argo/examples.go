package argo

import (
	"encoding/json"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What the examples build: the Dockerfiles under examples/argo in this
// repository, fetched with a git input artifact.
const (
	exampleRepo     = "https://github.com/kaniko-build/kaniko-build.git"
	exampleRevision = "main"
	exampleRegistry = "registry.example.com/team"
	busyboxImage    = "docker.io/library/busybox:1.37"

	// BaseDockerfile and AppDockerfile are examples/argo/{base,app}/Dockerfile.
	BaseDockerfile = "FROM docker.io/library/busybox:1.37\nRUN echo base > /base.txt\n"
	AppDockerfile  = "ARG BASE\nFROM ${BASE}\nRUN echo app > /app.txt\nCMD [\"cat\", \"/base.txt\", \"/app.txt\"]\n"
	// PlatformDockerfile is examples/argo/platform/Dockerfile: its RUN
	// runs the platform's own uname, under QEMU on a foreign node.
	PlatformDockerfile = "FROM docker.io/library/busybox:1.37\nRUN uname -m > /arch.txt\nCMD [\"cat\", \"/arch.txt\"]\n"
	// NonRootDockerfile and NonRootMessage are examples/argo/nonroot: no
	// RUN, so build-nonroot builds it.
	NonRootDockerfile = "FROM docker.io/library/busybox:1.37\n" +
		"COPY --chown=65532:65532 --chmod=0640 message.txt /home/app/message.txt\n" +
		"WORKDIR /home/app\nUSER 65532\nCMD [\"cat\", \"message.txt\"]\n"
	NonRootMessage = "Built without root.\n"
)

// examplePlatforms are the platforms the multi-platform example builds:
// those the executor image is published for.
var examplePlatforms = []string{"linux/amd64", "linux/arm64"}

func workflowMeta(generateName string) (metav1.TypeMeta, metav1.ObjectMeta) {
	return metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Workflow"},
		metav1.ObjectMeta{GenerateName: generateName}
}

func value(name, v string) wfv1.Parameter {
	return wfv1.Parameter{Name: name, Value: wfv1.AnyStringPtr(v)}
}

func gitSource(dir string) (wfv1.Parameter, wfv1.Artifact) {
	return value(ParamContext, sourcePath+"/examples/argo/"+dir), wfv1.Artifact{
		Name: ArtifactSource,
		ArtifactLocation: wfv1.ArtifactLocation{Git: &wfv1.GitArtifact{
			Repo:     exampleRepo,
			Revision: exampleRevision,
			Depth:    depth(1),
		}},
	}
}

func depth(n uint64) *uint64 { return &n }

// buildArgs fetches dir of this repository and builds it into image.
func buildArgs(image, dir string, more ...wfv1.Parameter) wfv1.Arguments {
	ctx, src := gitSource(dir)
	return wfv1.Arguments{
		Parameters: append([]wfv1.Parameter{value(ParamImage, image), ctx}, more...),
		Artifacts:  wfv1.Artifacts{src},
	}
}

// runTemplate runs the image it is given, as a check that it works.
func runTemplate() wfv1.Template {
	return wfv1.Template{
		Name:      "run",
		Inputs:    wfv1.Inputs{Parameters: []wfv1.Parameter{{Name: "image"}}},
		Container: &corev1.Container{Image: "{{inputs.parameters.image}}"},
	}
}

func workflowParams() wfv1.Arguments {
	return wfv1.Arguments{Parameters: []wfv1.Parameter{
		value("base-image", exampleRegistry+"/base:latest"),
		value("app-image", exampleRegistry+"/app:latest"),
	}}
}

// pinned is "<image-url>@<digest>" of a build step or task's outputs.
func pinned(prefix string) string {
	return "{{" + prefix + ".outputs.parameters." + OutputImageURL + "}}@{{" + prefix + ".outputs.parameters." + OutputDigest + "}}"
}

// DAGExample builds the base image, then the app image FROM that base
// pinned by digest, then runs the app image, all by templateRef to the
// WorkflowTemplate.
func DAGExample() *wfv1.Workflow {
	tm, om := workflowMeta(Name + "-dag-")
	ref := &wfv1.TemplateRef{Name: Name, Template: TemplateBuild}
	return &wfv1.Workflow{TypeMeta: tm, ObjectMeta: om, Spec: wfv1.WorkflowSpec{
		Entrypoint: "main",
		Arguments:  workflowParams(),
		Templates: []wfv1.Template{{
			Name: "main",
			DAG: &wfv1.DAGTemplate{Tasks: []wfv1.DAGTask{{
				Name:        "build-base",
				TemplateRef: ref,
				Arguments:   buildArgs("{{workflow.parameters.base-image}}", "base"),
			}, {
				Name:        "build-app",
				TemplateRef: ref,
				Depends:     "build-base",
				Arguments: buildArgs("{{workflow.parameters.app-image}}", "app",
					value(ParamBuildArgs, `["BASE=`+pinned("tasks.build-base")+`"]`)),
			}, {
				Name:      "run-app",
				Template:  "run",
				Depends:   "build-app",
				Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{value("image", pinned("tasks.build-app"))}},
			}}},
		}, runTemplate()},
	}}
}

// StepsExample builds one image with the ClusterWorkflowTemplate and runs
// it pinned by {{steps.build.outputs.parameters.digest}}.
func StepsExample() *wfv1.Workflow {
	tm, om := workflowMeta(Name + "-steps-")
	return &wfv1.Workflow{TypeMeta: tm, ObjectMeta: om, Spec: wfv1.WorkflowSpec{
		Entrypoint: "main",
		Arguments:  workflowParams(),
		Templates: []wfv1.Template{{
			Name: "main",
			Steps: []wfv1.ParallelSteps{{Steps: []wfv1.WorkflowStep{{
				Name:        "build",
				TemplateRef: &wfv1.TemplateRef{Name: Name, Template: TemplateBuild, ClusterScope: true},
				Arguments:   buildArgs("{{workflow.parameters.base-image}}", "base"),
			}}}, {Steps: []wfv1.WorkflowStep{{
				Name:      "run",
				Template:  "run",
				Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{value("image", pinned("steps.build"))}},
			}}}},
		}, runTemplate()},
	}}
}

// VolumeExample writes a Dockerfile into a volume the Workflow claims and
// builds it with build-from-volume, without pushing.
func VolumeExample() *wfv1.Workflow {
	tm, om := workflowMeta(Name + "-volume-")
	return &wfv1.Workflow{TypeMeta: tm, ObjectMeta: om, Spec: wfv1.WorkflowSpec{
		Entrypoint: "main",
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: VolumeWorkspace},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				},
			},
		}},
		Templates: []wfv1.Template{{
			Name: "main",
			Steps: []wfv1.ParallelSteps{{Steps: []wfv1.WorkflowStep{{
				Name:     "write-dockerfile",
				Template: "write-dockerfile",
			}}}, {Steps: []wfv1.WorkflowStep{{
				Name:        "build",
				TemplateRef: &wfv1.TemplateRef{Name: Name, Template: TemplateBuildFromVolume},
				Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{
					value(ParamImage, exampleRegistry+"/from-volume:latest"),
					value(ParamExtraArgs, `["--no-push"]`),
				}},
			}}}},
		}, {
			Name: "write-dockerfile",
			Container: &corev1.Container{
				Image:        busyboxImage,
				Command:      []string{"sh", "-c"},
				Args:         []string{"printf '%s' \"$DOCKERFILE\" > " + workspacePath + "/Dockerfile"},
				Env:          []corev1.EnvVar{{Name: "DOCKERFILE", Value: BaseDockerfile}},
				VolumeMounts: []corev1.VolumeMount{{Name: VolumeWorkspace, MountPath: workspacePath}},
			},
		}},
	}}
}

// items are withItems values, one string each.
func items(values ...string) []wfv1.Item {
	out := make([]wfv1.Item, 0, len(values))
	for _, v := range values {
		raw, _ := json.Marshal(v) // a string
		out = append(out, wfv1.Item{Value: raw})
	}
	return out
}

// MultiPlatformExample builds examples/argo/platform once per platform
// with withItems, each pushed by digest to the repository, joins the
// builds' images, which Argo aggregates into a JSON list, into one index
// pushed as image:tag, then runs the index pinned by its digest.
func MultiPlatformExample() *wfv1.Workflow {
	tm, om := workflowMeta(Name + "-multi-platform-")
	return &wfv1.Workflow{TypeMeta: tm, ObjectMeta: om, Spec: wfv1.WorkflowSpec{
		Entrypoint: "main",
		Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{
			value("image", exampleRegistry+"/app"),
			value("tag", "latest"),
		}},
		Templates: []wfv1.Template{{
			Name: "main",
			DAG: &wfv1.DAGTemplate{Tasks: []wfv1.DAGTask{{
				Name:        "build",
				TemplateRef: &wfv1.TemplateRef{Name: Name, Template: TemplateBuild},
				WithItems:   items(examplePlatforms...),
				Arguments: buildArgs("{{workflow.parameters.image}}", "platform",
					value(ParamPlatform, "{{item}}"),
					value(ParamPushByDigest, "true")),
			}, {
				Name:        "index",
				TemplateRef: &wfv1.TemplateRef{Name: Name, Template: TemplateIndex},
				Depends:     "build",
				Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{
					value(ParamImage, "{{workflow.parameters.image}}:{{workflow.parameters.tag}}"),
					// ["repository@sha256:...", ...], one per build.
					value(ParamImages, "{{tasks.build.outputs.parameters."+OutputImages+"}}"),
				}},
			}, {
				Name:      "run",
				Template:  "run",
				Depends:   "index",
				Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{value("image", pinned("tasks.index"))}},
			}}},
		}, runTemplate()},
	}}
}

// NonRootExample builds examples/argo/nonroot, which has no RUN, with
// build-nonroot: as a user other than root, with no capabilities.
func NonRootExample() *wfv1.Workflow {
	tm, om := workflowMeta(Name + "-nonroot-")
	return &wfv1.Workflow{TypeMeta: tm, ObjectMeta: om, Spec: wfv1.WorkflowSpec{
		Entrypoint: "main",
		Arguments:  wfv1.Arguments{Parameters: []wfv1.Parameter{value("image", exampleRegistry+"/nonroot:latest")}},
		Templates: []wfv1.Template{{
			Name: "main",
			Steps: []wfv1.ParallelSteps{{Steps: []wfv1.WorkflowStep{{
				Name:        "build",
				TemplateRef: &wfv1.TemplateRef{Name: Name, Template: TemplateBuildNonRoot},
				Arguments:   buildArgs("{{workflow.parameters.image}}", "nonroot"),
			}}}},
		}},
	}}
}

// hostUsersPatch gives every pod of a Workflow a user namespace of its
// own: its root is an unprivileged user on the node.
const hostUsersPatch = `{"hostUsers": false}`

// HostUsersExample builds examples/argo/base, which has a RUN, with
// build, in pods with hostUsers: false, then runs the image.
func HostUsersExample() *wfv1.Workflow {
	tm, om := workflowMeta(Name + "-host-users-")
	return &wfv1.Workflow{TypeMeta: tm, ObjectMeta: om, Spec: wfv1.WorkflowSpec{
		Entrypoint:   "main",
		PodSpecPatch: hostUsersPatch,
		Arguments:    wfv1.Arguments{Parameters: []wfv1.Parameter{value("image", exampleRegistry+"/base:latest")}},
		Templates: []wfv1.Template{{
			Name: "main",
			Steps: []wfv1.ParallelSteps{{Steps: []wfv1.WorkflowStep{{
				Name:        "build",
				TemplateRef: &wfv1.TemplateRef{Name: Name, Template: TemplateBuild},
				Arguments:   buildArgs("{{workflow.parameters.image}}", "base"),
			}}}, {Steps: []wfv1.WorkflowStep{{
				Name:      "run",
				Template:  "run",
				Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{value("image", pinned("steps.build"))}},
			}}}},
		}, runTemplate()},
	}}
}
