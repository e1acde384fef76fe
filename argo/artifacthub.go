package argo

import (
	"github.com/kaniko-build/kaniko-build/catalog"
)

// createdAt is when this package version was made, which Artifact Hub
// shows; the release process moves it with Version.
const createdAt = "2026-11-23T00:00:00Z"

// ArtifactHubPackage is Artifact Hub's package metadata file
// (artifacthub-pkg.yml) for an Argo template package.
type ArtifactHubPackage struct {
	Version          string            `json:"version"`
	Name             string            `json:"name"`
	DisplayName      string            `json:"displayName"`
	CreatedAt        string            `json:"createdAt"`
	Description      string            `json:"description"`
	License          string            `json:"license"`
	HomeURL          string            `json:"homeURL"`
	AppVersion       string            `json:"appVersion"`
	ContainersImages []ContainerImage  `json:"containersImages"`
	Keywords         []string          `json:"keywords"`
	Links            []Link            `json:"links"`
	Provider         Provider          `json:"provider"`
	Annotations      map[string]string `json:"annotations"`
	Install          string            `json:"install"`
}

// ContainerImage is an image the package runs.
type ContainerImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Link is a named URL.
type Link struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Provider names who publishes the package.
type Provider struct {
	Name string `json:"name"`
}

// ArtifactHub returns the package metadata.
func ArtifactHub() ArtifactHubPackage {
	return ArtifactHubPackage{
		Version:     Version,
		Name:        Name,
		DisplayName: "Kaniko Build",
		CreatedAt:   createdAt,
		Description: "Builds a Dockerfile into a container image and pushes it with the kaniko-build executor " +
			"(the successor of Kaniko): no Docker daemon, no privileges. Outputs the digest and image URL as " +
			"parameters, for pinning the next build's FROM, and joins images built per platform into one " +
			"multi-platform image index.",
		License:          "Apache-2.0",
		HomeURL:          "https://github.com/kaniko-build/kaniko-build",
		AppVersion:       catalog.Current().Version,
		ContainersImages: []ContainerImage{{Name: "executor", Image: catalog.BuilderImage()}},
		Keywords:         []string{"argo", "argo-workflows", "image-build", "kaniko", "dockerfile", "container"},
		Links: []Link{
			{Name: "source", URL: "https://github.com/kaniko-build/kaniko-build"},
			{Name: "examples", URL: "https://github.com/kaniko-build/kaniko-build/tree/main/examples/argo"},
		},
		Provider:    Provider{Name: "kaniko-build"},
		Annotations: map[string]string{"argo/version": argoVersion},
		Install: "```bash\nkubectl apply -n <namespace> -f " +
			"https://raw.githubusercontent.com/kaniko-build/kaniko-build/main/" + packageDir + "/manifests.yaml\n```\n",
	}
}
