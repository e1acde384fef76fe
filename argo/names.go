package argo

// Name is the name of the WorkflowTemplate and ClusterWorkflowTemplate.
const Name = "kaniko-build"

// Version is the Artifact Hub package version.
const Version = "0.1.0"

// Template names inside the WorkflowTemplate.
const (
	// TemplateBuild takes the context from the optional input artifact
	// "source" (any Argo artifact: git, http, s3, ...).
	TemplateBuild = "build"
	// TemplateBuildFromVolume takes the context from a volume named
	// "workspace" that the calling Workflow declares.
	TemplateBuildFromVolume = "build-from-volume"
	// TemplateBuildNonRoot is build run as catalog.NonRootUID with no
	// capabilities (PodSecurity "restricted"): Dockerfiles without RUN.
	TemplateBuildNonRoot = "build-nonroot"
	// TemplateIndex joins images built one platform each into an image
	// index: the join step of a multi-platform build.
	TemplateIndex = "index"
)

// Input parameter names.
const (
	ParamImage              = "image"
	ParamDockerfile         = "dockerfile"
	ParamContext            = "context"
	ParamBuildArgs          = "build-args"
	ParamExtraArgs          = "extra-args"
	ParamTarget             = "target"
	ParamCache              = "cache"
	ParamCacheRepo          = "cache-repo"
	ParamInsecureRegistry   = "insecure-registry"
	ParamPlatform           = "platform"
	ParamPushByDigest       = "push-by-digest"
	ParamDockerConfigSecret = "docker-config-secret"
	ParamSaveTar            = "save-tar"
	ParamBuilderImage       = "builder-image"

	// The index's own: the images to join and the index's format.
	ParamImages = "images"
	ParamFormat = "format"
)

// Artifact, output and volume names.
const (
	ArtifactSource   = "source"
	ArtifactImageTar = "image-tar"

	OutputDigest   = "digest"
	OutputImageURL = "image-url"
	OutputImages   = "images"

	// VolumeWorkspace is the volume build-from-volume mounts; the calling
	// Workflow provides it.
	VolumeWorkspace    = "workspace"
	volumeOutputs      = "outputs"
	volumeDockerConfig = "docker-config"
	// volumeCredentials holds the main container's copy of the docker
	// config, which it deletes before any RUN; volumeNoToken covers the
	// service account token there.
	volumeCredentials = "kaniko-credentials"
	volumeNoToken     = "no-service-account-token"
	// volumeTemp is build-nonroot's scratch directory, its TMPDIR.
	volumeTemp = "kaniko-tmp"
)

// Paths inside the build container.
const (
	sourcePath    = "/workspace/source"
	workspacePath = "/workspace"
	outputsPath   = "/kaniko/outputs"
	tarPath       = outputsPath + "/image.tar"
)
