//go:build e2e

package e2e

import (
	"context"
	"testing"

	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
)

// TestOracleCatchesMutations checks the comparison itself on a real image:
// docker's image of the oracle-fixture case equals itself, and each of
// imagecmp's mutations of it is reported as a difference. A mutation that
// passes is a bug in imagecmp.
func TestOracleCatchesMutations(t *testing.T) {
	h := suite
	if !h.docker {
		t.Fatalf("needs docker build (%s=both or docker)", envSides)
	}
	r := h.prepareIn(t, "conformance", "oracle-fixture", "oracle")
	ref, err := h.referenceBuilt(context.Background(), r, refDocker)
	if err != nil {
		t.Fatal(err)
	}
	opt := imagecmp.Options{Times: imagecmp.Times{IsBuildTime: h.isBuildTime}}
	if diffs, err := imagecmp.Compare("docker", ref.cmp, "again", ref.cmp, opt); err != nil || len(diffs) > 0 {
		t.Fatalf("docker's image differs from itself: %v %v", diffs, err)
	}
	for _, m := range imagecmp.Mutations() {
		t.Run(m.Name, func(t *testing.T) {
			mutated, err := m.Apply(ref.img)
			if err != nil {
				t.Fatalf("applying to docker's image: %v", err)
			}
			got, err := imagecmp.Read(mutated)
			if err != nil {
				t.Fatal(err)
			}
			diffs, err := imagecmp.Compare("docker", ref.cmp, "mutated", got, opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) == 0 {
				t.Error("the comparison found no difference: a bug in imagecmp")
			}
		})
	}
}
