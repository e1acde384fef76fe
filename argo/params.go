package argo

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

// param declares an input parameter; a nil def makes it required.
func param(name, description string, def *string) wfv1.Parameter {
	p := wfv1.Parameter{Name: name, Description: wfv1.AnyStringPtr(description)}
	if def != nil {
		p.Default = wfv1.AnyStringPtr(*def)
	}
	return p
}

func ptr(s string) *string { return &s }

func inputParams(context string) []wfv1.Parameter {
	return []wfv1.Parameter{
		param(ParamImage, "Image reference to build and push, e.g. registry.example.com/team/app:1.2; with push-by-digest a repository alone, e.g. registry.example.com/team/app.", nil),
		param(ParamDockerfile, "Path of the Dockerfile, relative to the context (the working directory) or absolute.", ptr("Dockerfile")),
		param(ParamContext, "Directory holding the build context.", ptr(context)),
		param(ParamBuildArgs, `Build arguments as a JSON list of "KEY=VALUE" strings, e.g. ["VERSION=1.2"].`, ptr("[]")),
		param(ParamExtraArgs, `Extra executor flags (Kaniko's names) as a JSON list, e.g. ["--label=team=a", "--reproducible"].`, ptr("[]")),
		param(ParamTarget, "The Dockerfile stage to build; empty builds the last one.", ptr("")),
		param(ParamCache, `"true" caches RUN layers in cache-repo.`, ptr("false")),
		param(ParamCacheRepo, "Repository for cached layers; empty means the image's repository with /cache appended.", ptr("")),
		param(ParamInsecureRegistry, "A registry (host[:port]) reached over plain HTTP; empty for none.", ptr("")),
		param(ParamPlatform, "The platform to build for, os/arch[/variant], e.g. linux/arm64; empty builds for the node's. A RUN for another processor needs QEMU registered on the node.", ptr("")),
		param(ParamPushByDigest, `"true" pushes by digest alone, tagging nothing (image is then a repository): a platform's build that the index template joins.`, ptr("false")),
		param(ParamDockerConfigSecret, "Secret holding config.json, or a kubernetes.io/dockerconfigjson Secret; a missing Secret means anonymous access.", ptr("docker-config")),
		param(ParamSaveTar, `"true" also writes the image as a tarball, output artifact image-tar (needs an artifact repository).`, ptr("false")),
		param(ParamBuilderImage, "The executor image.", ptr(catalog.BuilderImage())),
	}
}

// indexInputParams are the index template's inputs; those it shares with
// the build templates mean the same there.
func indexInputParams() []wfv1.Parameter {
	return []wfv1.Parameter{
		param(ParamImage, "Image reference to push the index to, e.g. registry.example.com/team/app:1.2.", nil),
		param(ParamImages, `The images to join as a JSON list of REF@DIGEST, one per platform, e.g. ["registry.example.com/team/app@sha256:..."]: `+
			"the output parameter images of a build task with withItems, which Argo aggregates into such a list.", nil),
		param(ParamFormat, `"oci" pushes an OCI image index, "docker" a Docker manifest list.`, ptr("oci")),
		param(ParamInsecureRegistry, "A registry (host[:port]) reached over plain HTTP; empty for none.", ptr("")),
		param(ParamExtraArgs, `Extra flags of executor index as a JSON list, e.g. ["--registry-certificate=REGISTRY=FILE"].`, ptr("[]")),
		param(ParamDockerConfigSecret, "Secret holding config.json, or a kubernetes.io/dockerconfigjson Secret; a missing Secret means anonymous access.", ptr("docker-config")),
		param(ParamBuilderImage, "The executor image.", ptr(catalog.BuilderImage())),
	}
}

// submitParams turns template inputs into Workflow arguments: a default
// becomes the value, which `argo submit -p` overrides; an input without a
// default stays without a value, so submitting without it is refused.
func submitParams(inputs []wfv1.Parameter) []wfv1.Parameter {
	out := make([]wfv1.Parameter, 0, len(inputs))
	for _, in := range inputs {
		p := wfv1.Parameter{Name: in.Name, Description: in.Description}
		if in.Default != nil {
			p.Value = wfv1.AnyStringPtr(in.Default.String())
		}
		out = append(out, p)
	}
	return out
}

// output is an output parameter the executor writes under outputsPath.
func output(name, description string) wfv1.Parameter {
	return wfv1.Parameter{
		Name:        name,
		Description: wfv1.AnyStringPtr(description),
		ValueFrom:   &wfv1.ValueFrom{Path: outputsPath + "/" + name},
	}
}

// indexOutputs are the index template's: its digest and names.
func indexOutputs() wfv1.Outputs {
	return wfv1.Outputs{Parameters: []wfv1.Parameter{
		output(OutputDigest, "Digest of the image index, sha256:<hex>."),
		output(OutputImageURL, "The image the index was pushed as (the image parameter)."),
		output(OutputImages, "Every destination as given, pinned by the index's digest (name:tag@sha256:<hex>), one per line."),
	}}
}

func outputs() wfv1.Outputs {
	return wfv1.Outputs{
		Parameters: []wfv1.Parameter{
			output(OutputDigest, "Digest of the built image, sha256:<hex>."),
			output(OutputImageURL, "The image it was pushed as (the image parameter)."),
			output(OutputImages, "Every destination as given, pinned by digest (name:tag@sha256:<hex>, or repository@sha256:<hex> with push-by-digest), one per line."),
		},
		Artifacts: wfv1.Artifacts{{
			Name:     ArtifactImageTar,
			Path:     tarPath,
			Optional: true,
			Archive:  &wfv1.ArchiveStrategy{None: &wfv1.NoneStrategy{}},
		}},
	}
}
