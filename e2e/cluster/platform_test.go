//go:build cluster

package cluster

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
)

// multiarchBusybox is the busybox base for linux/amd64 and linux/arm64 in
// the test's registry; the multi-platform samples build FROM it.
func multiarchBusybox() string { return env.registry + "/library/busybox-multiarch:1.37" }

// pushMultiarch pushes multiarchBusybox: the host's busybox and Debian's
// arm64 one, which e2e/setup.sh downloads.
func pushMultiarch() error {
	idx, err := baseimage.MultiBusybox(baseimage.BusyboxArm64())
	if err != nil {
		return err
	}
	r, err := name.ParseReference(multiarchBusybox(), name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(r, idx, regOpts()...); err != nil {
		return fmt.Errorf("pushing %s: %w", multiarchBusybox(), err)
	}
	return nil
}

// checkIndex checks that ref is an image index of a linux/amd64 and a
// linux/arm64 image, whose /arch.txt says x86_64 and aarch64, and that
// repo has no tag but ref's: the platforms were pushed by digest.
func checkIndex(t *testing.T, ref, digest string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r, regOpts()...)
	if err != nil {
		t.Fatalf("pulling the index %s: %v", ref, err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d.String() != digest {
		t.Errorf("%s is %s, the results say %s", ref, d, digest)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	machine := map[string]string{"linux/amd64": "x86_64\n", "linux/arm64": "aarch64\n"}
	var got []string
	for _, desc := range m.Manifests {
		if desc.Platform == nil {
			t.Errorf("manifest %s has no platform", desc.Digest)
			continue
		}
		p := desc.Platform.OS + "/" + desc.Platform.Architecture
		got = append(got, p)
		if arch := imageFile(t, r.Context().String()+"@"+desc.Digest.String(), "arch.txt"); arch != machine[p] {
			t.Errorf("%s: /arch.txt %q, want %q", p, arch, machine[p])
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("the index holds %v, want linux/amd64 and linux/arm64", got)
	}
	tags, err := remote.List(r.Context(), regOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if id := r.Identifier(); len(tags) != 1 || tags[0] != id {
		t.Errorf("%s has tags %v, want only %s: the platforms go by digest", r.Context(), tags, id)
	}
}

// The catalog's matrix Pipeline: one TaskRun per platform, pushed by
// digest, joined by kaniko-build-index, whose digest is the Pipeline's
// result; then a TaskRun builds FROM the index by that digest.
func TestPipelineMultiPlatform(t *testing.T) {
	timed(t)
	docs := mapSampleTo(t, "catalog/task/kaniko-build/0.1/samples/pipeline-multi-platform.yaml", multiarchBusybox())
	repo := env.registry + "/pipeline/multi"
	var prName string
	for _, d := range docs {
		spec := d["spec"].(map[string]any)
		switch d["kind"] {
		case "Pipeline":
			for _, tk := range spec["tasks"].([]any) {
				task := tk.(map[string]any)
				if ref, ok := task["taskRef"].(map[string]any); ok && strings.HasPrefix(ref["name"].(string), "kaniko-build") {
					ps, _ := task["params"].([]any)
					task["params"] = append(ps, insecureParams()...)
				}
			}
			apply(t, d, "apply")
		case "PipelineRun":
			spec["params"] = []any{
				map[string]any{"name": "image", "value": repo},
				map[string]any{"name": "tag", "value": "1"},
			}
			prName = apply(t, d, "create")
		}
	}
	obj := waitRun(t, "pipelinerun", prName, 10*time.Minute)
	if condition(obj) != "True" {
		out, _ := exec.Command(filepath.Join(env.bin, "tkn"), "-n", env.ns, "pipelinerun", "logs", prName).CombinedOutput()
		t.Fatalf("PipelineRun %s failed:\n%s", prName, out)
	}
	res := results(obj)
	if res["IMAGE_URL"] != repo+":1" {
		t.Errorf("IMAGE_URL %q, want %s:1", res["IMAGE_URL"], repo)
	}
	checkIndex(t, repo+":1", res["IMAGE_DIGEST"])

	// The platforms built as pods of their own, at the same time.
	var trs struct {
		Items []struct {
			Spec struct {
				Params []struct {
					Name  string `json:"name"`
					Value any    `json:"value"`
				} `json:"params"`
			} `json:"spec"`
			Status struct {
				PodName        string    `json:"podName"`
				StartTime      time.Time `json:"startTime"`
				CompletionTime time.Time `json:"completionTime"`
			} `json:"status"`
		} `json:"items"`
	}
	out := kubectl(t, nil, "-n", env.ns, "get", "taskrun", "-l", "tekton.dev/pipelineRun="+prName+",tekton.dev/pipelineTask=build", "-o", "json")
	if err := json.Unmarshal([]byte(out), &trs); err != nil {
		t.Fatal(err)
	}
	if len(trs.Items) != 2 || trs.Items[0].Status.PodName == trs.Items[1].Status.PodName {
		t.Fatalf("want two build TaskRuns in pods of their own, got %d:\n%s", len(trs.Items), out)
	}
	a, b := trs.Items[0].Status, trs.Items[1].Status
	if !a.StartTime.Before(b.CompletionTime) || !b.StartTime.Before(a.CompletionTime) {
		t.Errorf("the platforms' TaskRuns ran one after the other: %v–%v and %v–%v", a.StartTime, a.CompletionTime, b.StartTime, b.CompletionTime)
	}

	// Chaining: an image FROM the index by digest, built on this amd64 node.
	claim(t, "src-chain", map[string]string{
		"Dockerfile": "FROM " + repo + "@" + res["IMAGE_DIGEST"] + "\nRUN cp /arch.txt /chained.txt\n",
	})
	chained := env.registry + "/pipeline/chained:1"
	tr, tobj := startTask(t, "claimName=src-chain", "-p", "IMAGE="+chained)
	if condition(tobj) != "True" {
		t.Fatalf("TaskRun %s FROM the index failed:\n%s", tr, taskRunLog(t, tr))
	}
	if got := imageFile(t, chained, "chained.txt"); got != "x86_64\n" {
		t.Errorf("FROM the index on an amd64 node gave /arch.txt %q, want the amd64 image's", got)
	}
}

// The Argo example: a withItems task per platform, pushed by digest,
// joined by the WorkflowTemplate's index template, run by digest.
func TestArgoMultiPlatformDAG(t *testing.T) {
	timed(t)
	url := gitRepo(t, "multi", map[string]string{
		"examples/argo/platform/Dockerfile": readRepoFileTo(t, "examples/argo/platform/Dockerfile", multiarchBusybox()),
	})
	wf := mapSampleTo(t, "examples/argo/dag-multi-platform.yaml", multiarchBusybox())[0]
	setGitRepo(wf, url)
	mapTemplateRefs(wf)
	repo := env.registry + "/argo/multi"
	wf["spec"].(map[string]any)["arguments"] = map[string]any{"parameters": []any{
		map[string]any{"name": "image", "value": repo},
		map[string]any{"name": "tag", "value": "1"},
	}}
	nm, obj := workflow(t, wf)
	logs := podLogs(t, nm)
	if phase(obj) != "Succeeded" {
		b, _ := json.MarshalIndent(obj["status"], "", "  ")
		t.Fatalf("Workflow %s: %s\n%s\n%s", nm, phase(obj), b, logs)
	}
	out := nodeOutputs(obj, "index")
	if out["image-url"] != repo+":1" {
		t.Errorf("index outputs %v, want image-url %s:1", out, repo)
	}
	checkIndex(t, repo+":1", out["digest"])
	// The run task pulled the index on this amd64 node.
	if !strings.Contains(logs, "x86_64") {
		t.Errorf("run did not print x86_64:\n%s", logs)
	}
}
