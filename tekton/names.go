package tekton

// Name is the name of the Task and of the StepAction.
const Name = "kaniko-build"

// NonRootName is the name of the Task and of the StepAction that build
// without root: as a user of their own, with no capabilities.
const NonRootName = Name + "-nonroot"

// IndexName is the name of the Task and of the StepAction that join
// images built one platform each into an image index.
const IndexName = Name + "-index"

// Version is the catalog version of the Tasks and the StepActions.
const Version = "0.1"

// Parameter names. The first five match the Tekton catalog's kaniko task
// so that a PipelineRun written for it only has to change the taskRef.
const (
	ParamImage            = "IMAGE"
	ParamDockerfile       = "DOCKERFILE"
	ParamContext          = "CONTEXT"
	ParamExtraArgs        = "EXTRA_ARGS"
	ParamBuilderImage     = "BUILDER_IMAGE"
	ParamBuildArgs        = "BUILD_ARGS"
	ParamTarget           = "TARGET"
	ParamCache            = "CACHE"
	ParamCacheRepo        = "CACHE_REPO"
	ParamSkipPush         = "SKIP_PUSH"
	ParamInsecureRegistry = "INSECURE_REGISTRY"
	ParamPlatform         = "PLATFORM"
	ParamPushByDigest     = "PUSH_BY_DIGEST"

	// The index's own: the images to join and the index's format.
	ParamImages = "IMAGES"
	ParamFormat = "FORMAT"

	// StepAction only: it has no workspaces, so paths come in as params.
	ParamSourcePath   = "SOURCE_PATH"
	ParamCacheDir     = "CACHE_DIR"
	ParamDockerConfig = "DOCKER_CONFIG"
	// The non-root StepAction's: the calling Task's scratch volume.
	ParamTempVolume = "TMP_VOLUME"
)

// Workspace names of the Task.
const (
	WorkspaceSource       = "source"
	WorkspaceDockerConfig = "dockerconfig"
	WorkspaceCache        = "cache"
)

// Result names; Tekton Chains reads IMAGE_URL and IMAGE_DIGEST (and IMAGES)
// as type hints for provenance.
const (
	ResultImageDigest = "IMAGE_DIGEST"
	ResultImageURL    = "IMAGE_URL"
	ResultImages      = "IMAGES"
)

// stepName is the name of the step that runs the build, indexStepName of
// the one that pushes the index; copyStepName of the one before either,
// which copies the credentials.
const (
	stepName      = "build-and-push"
	indexStepName = "push-index"
	copyStepName  = "copy-credentials"
)

// sourcePath is where a StepAction user mounts the source by default.
const sourcePath = "/workspace/source"
