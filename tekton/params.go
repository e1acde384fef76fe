package tekton

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// str declares a string parameter; a nil def makes it required.
func str(name, description string, def *string) v1.ParamSpec {
	p := v1.ParamSpec{Name: name, Type: v1.ParamTypeString, Description: description}
	if def != nil {
		p.Default = v1.NewStructuredValues(*def)
	}
	return p
}

// arr declares an array parameter that defaults to the empty list.
func arr(name, description string) v1.ParamSpec {
	return v1.ParamSpec{
		Name:        name,
		Type:        v1.ParamTypeArray,
		Description: description,
		Default:     &v1.ParamValue{Type: v1.ParamTypeArray, ArrayVal: []string{}},
	}
}

// arrRequired declares an array parameter without a default.
func arrRequired(name, description string) v1.ParamSpec {
	return v1.ParamSpec{Name: name, Type: v1.ParamTypeArray, Description: description}
}

func ptr(s string) *string { return &s }

// buildParams are the parameters the Task and the StepAction share, in the
// order they are documented.
func buildParams() v1.ParamSpecs {
	return v1.ParamSpecs{
		str(ParamImage, "Name (reference) of the image to build and push, e.g. registry.example.com/team/app:1.2; with PUSH_BY_DIGEST a repository alone, e.g. registry.example.com/team/app.", nil),
		str(ParamDockerfile, "Path to the Dockerfile to build. A relative path is looked up in the working directory (the source), then in the context, as Kaniko does.", ptr("./Dockerfile")),
		str(ParamContext, "The build context, relative to the source.", ptr("./")),
		arr(ParamExtraArgs, "Extra executor flags (Kaniko's names), e.g. --label=team=a. They come after the Task's own flags, so a repeated single-value flag overrides the Task's."),
		str(ParamBuilderImage, "The executor image. The default is the released image pinned by digest.", ptr(catalog.BuilderImage())),
		arr(ParamBuildArgs, "Build arguments, one KEY=VALUE (or KEY, to take the value from the step's environment) per element."),
		str(ParamTarget, "The Dockerfile stage to build; empty builds the last one.", ptr("")),
		str(ParamCache, "Set to \"true\" to cache RUN layers in CACHE_REPO.", ptr("false")),
		str(ParamCacheRepo, "Repository for cached layers; empty means IMAGE's repository with /cache appended.", ptr("")),
		str(ParamSkipPush, "Set to \"true\" to build without pushing; the results still name the built image.", ptr("false")),
		str(ParamInsecureRegistry, "A registry (host[:port]) to reach over plain HTTP, e.g. an in-cluster registry; empty for none.", ptr("")),
		str(ParamPlatform, "The platform to build for, os/arch[/variant], e.g. linux/arm64; empty builds for the node's. A RUN for another processor needs QEMU registered on the node.", ptr("")),
		str(ParamPushByDigest, "Set to \"true\" to push by digest alone, tagging nothing (IMAGE is then a repository): a platform's build that kaniko-build-index joins.", ptr("false")),
	}
}

// ref renders a Tekton variable reference.
func ref(name string) string { return "$(" + name + ")" }

func param(name string) string      { return ref("params." + name) }
func arrayParam(name string) string { return ref("params." + name + "[*]") }

// buildArgs are the executor arguments both the Task and the StepAction
// pass; the caller supplies the paths that differ between them.
type paths struct {
	source, cacheDir, digest, url, images string
}

func executorArgs(p paths) []string {
	return []string{
		"--dockerfile=" + param(ParamDockerfile),
		"--context=" + p.source + "/" + param(ParamContext),
		"--destination=" + param(ParamImage),
		"--digest-file=" + p.digest,
		"--image-url-file=" + p.url,
		"--images-file=" + p.images,
		"--target=" + param(ParamTarget),
		"--cache=" + param(ParamCache),
		"--cache-repo=" + param(ParamCacheRepo),
		"--cache-dir=" + p.cacheDir,
		"--no-push=" + param(ParamSkipPush),
		"--insecure-registry=" + param(ParamInsecureRegistry),
		"--custom-platform=" + param(ParamPlatform),
		"--push-by-digest=" + param(ParamPushByDigest),
		arrayParam(ParamExtraArgs),
		// Everything after -- is a build argument: Tekton can expand an
		// array into arguments but cannot put --build-arg before each one.
		"--",
		arrayParam(ParamBuildArgs),
	}
}
