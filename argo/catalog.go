package argo

import (
	"fmt"

	"github.com/kaniko-build/kaniko-build/catalog"
)

// Where the generated files go, relative to the repository root.
const (
	packageDir  = "catalog/argo/" + Name + "/" + Version
	examplesDir = "examples/argo"
)

// OwnedDirs are the directories Files fills entirely.
func OwnedDirs() []string { return []string{"catalog/argo", examplesDir} }

// Files renders the Artifact Hub package and the examples.
func Files() (catalog.Files, error) {
	docs := []struct {
		path string
		objs []any
	}{
		{packageDir + "/manifests.yaml", []any{WorkflowTemplate()}},
		{packageDir + "/cluster-workflow-template.yaml", []any{ClusterWorkflowTemplate()}},
		{examplesDir + "/dag-base-and-app.yaml", []any{DAGExample()}},
		{examplesDir + "/dag-multi-platform.yaml", []any{MultiPlatformExample()}},
		{examplesDir + "/steps-build-and-run.yaml", []any{StepsExample()}},
		{examplesDir + "/volume-context.yaml", []any{VolumeExample()}},
		{examplesDir + "/nonroot.yaml", []any{NonRootExample()}},
		{examplesDir + "/host-users.yaml", []any{HostUsersExample()}},
	}
	files := catalog.Files{}
	for _, d := range docs {
		content, err := catalog.YAML(d.objs...)
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", d.path, err)
		}
		if err := files.Add(d.path, content); err != nil {
			return nil, err
		}
	}
	pkg, err := catalog.YAML(ArtifactHub())
	if err != nil {
		return nil, fmt.Errorf("rendering artifacthub-pkg.yml: %w", err)
	}
	readme, err := render("package.md.tmpl")
	if err != nil {
		return nil, err
	}
	examples, err := render("examples.md.tmpl")
	if err != nil {
		return nil, err
	}
	for path, content := range map[string][]byte{
		packageDir + "/artifacthub-pkg.yml":  pkg,
		packageDir + "/README.md":            readme,
		examplesDir + "/README.md":           examples,
		examplesDir + "/base/Dockerfile":     []byte(BaseDockerfile),
		examplesDir + "/app/Dockerfile":      []byte(AppDockerfile),
		examplesDir + "/platform/Dockerfile": []byte(PlatformDockerfile),
		examplesDir + "/nonroot/Dockerfile":  []byte(NonRootDockerfile),
		examplesDir + "/nonroot/message.txt": []byte(NonRootMessage),
	} {
		if err := files.Add(path, content); err != nil {
			return nil, err
		}
	}
	return files, nil
}
