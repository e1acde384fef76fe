package tekton

import (
	"os/exec"
	"strings"
	"testing"
)

// TestExecutorLinksNoClusterPackages keeps Kubernetes, Tekton and Argo out
// of the executor binary: they are only for generating and checking the
// catalog.
func TestExecutorLinksNoClusterPackages(t *testing.T) {
	const executor = "github.com/kaniko-build/kaniko-build/cmd/executor"
	out, err := exec.Command("go", "list", "-deps", executor).CombinedOutput()
	if err != nil {
		t.Fatalf("listing the dependencies of %s: %v\n%s", executor, err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatalf("go list printed no dependencies for %s", executor)
	}
	for _, dep := range deps {
		for _, banned := range []string{"k8s.io/", "sigs.k8s.io/", "knative.dev/", "github.com/tektoncd/", "github.com/argoproj/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("the executor links %s (prefix %s)", dep, banned)
			}
		}
	}
}
