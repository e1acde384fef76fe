//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestImageKilledAndRestarted SIGKILLs the executor image at 20 random
// points of a build (a base's extraction, a RUN, a layer's upload, the
// manifest's push), restarting the same container each time, as a pod's
// container is restarted: no tag ever points at a partial image, the
// build run to its end equals an undisturbed one, and the killed runs'
// scratch is reclaimed.
func TestImageKilledAndRestarted(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM " + h.bases["busybox"] + "\n" +
			"RUN mkdir /gen && for n in $(seq 1 300); do echo $n > /gen/f$n; done && " +
			"awk 'BEGIN { srand(1); for (i = 0; i < 1000000; i++) printf \"%08x\", int(rand() * 4294967296) }' > /gen/blob\n" +
			"COPY ctx.txt /ctx.txt\n" +
			"RUN cat /ctx.txt /gen/f1 > /both.txt\n",
		"ctx.txt": "restarted\n",
	})
	create := func(ref string) string {
		name := fmt.Sprintf("kaniko-build-e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
		out, err := exec.CommandContext(ctx, "docker", "create", "--name", name, "--network", "host",
			"--volume", dir+":/workspace:ro", h.image,
			"--context", "/workspace", "--destination", ref, "--reproducible").CombinedOutput()
		if err != nil {
			t.Fatalf("docker create: %v: %s", err, out)
		}
		t.Cleanup(func() { removeContainer(name) })
		return name
	}
	docker := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
		return string(out), err
	}

	// An undisturbed build: how long one takes.
	clean := create(h.reg.Host + "/killed/clean:1")
	start := time.Now()
	if out, err := docker("start", "--attach", clean); err != nil {
		t.Fatalf("the undisturbed build: %v\n%s", err, tail(out, 3000))
	}
	took := time.Since(start)

	ref := h.reg.Host + "/killed/app:1"
	name := create(ref)
	rng := rand.New(rand.NewPCG(20261207, 24))
	for i := range 20 {
		at := time.Duration(rng.Int64N(int64(took)))
		if out, err := docker("start", name); err != nil {
			t.Fatalf("kill %d: docker start: %v: %s", i, err, out)
		}
		time.Sleep(at) // the kill point, at random
		if out, err := docker("kill", "--signal", "KILL", name); err != nil && !strings.Contains(out, "is not running") {
			t.Fatalf("kill %d: docker kill: %v: %s", i, err, out)
		}
		docker("wait", name)
		// The tag is absent, or a whole image.
		if found, err := exists(ctx, ref); err != nil {
			t.Fatal(err)
		} else if found {
			img, err := pull(ctx, ref)
			if err != nil {
				t.Fatalf("kill %d at %s: %s is tagged but cannot be pulled: %v", i, at, ref, err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("kill %d at %s: %s points at a partial image: %v", i, at, ref, err)
			}
		}
	}
	// Run to its end in the same container.
	if out, err := docker("start", "--attach", name); err != nil {
		t.Fatalf("the run after the kills: %v\n%s", err, tail(out, 3000))
	}
	checkFiles(t, ref, map[string]string{"/ctx.txt": "restarted\n", "/both.txt": "restarted\n1\n", "/gen/f300": "300\n"})
	if got, want := registryDigest(t, ref), registryDigest(t, h.reg.Host+"/killed/clean:1"); got != want {
		t.Errorf("after the kills the build gave %s, the undisturbed one %s", got, want)
	}

	// No killed run's scratch is left in place: each start moves what
	// it finds to the trash it empties.
	out, err := exec.CommandContext(ctx, "docker", "cp", name+":/kaniko/tmp", "-").Output()
	if err != nil {
		t.Fatalf("docker cp: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimSuffix(hdr.Name, "/"), "/")
		if len(parts) == 2 && strings.HasPrefix(parts[1], "kaniko-build-") {
			t.Errorf("a build's scratch is still in place after the last run: %s", hdr.Name)
		}
	}
}
