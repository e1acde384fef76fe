//go:build e2e

package e2e

// The Tekton catalog Task, run the way Tekton runs it but without a
// cluster: Tekton's own reconciler functions (from the pinned
// github.com/tektoncd/pipeline) substitute params, contexts, results and
// workspaces and mount the workspaces; each step then runs with
// `docker run`, unprivileged, with the volumes a Tekton pod has.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/kmeta"
	"sigs.k8s.io/yaml"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/reconciler/pipeline/dag"
	prresources "github.com/tektoncd/pipeline/pkg/reconciler/pipelinerun/resources"
	"github.com/tektoncd/pipeline/pkg/reconciler/taskrun/resources"
	"github.com/tektoncd/pipeline/pkg/reconciler/volumeclaim"
	"github.com/tektoncd/pipeline/pkg/workspace"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
)

const (
	tektonTaskDir    = "catalog/task/kaniko-build/0.1"
	tektonTaskFile   = tektonTaskDir + "/kaniko-build.yaml"
	tektonTaskRun    = tektonTaskDir + "/samples/taskrun.yaml"
	tektonPipeline   = tektonTaskDir + "/samples/pipeline-base-and-app.yaml"
	sampleBusybox    = "docker.io/library/busybox:1.37"
	tektonResultsDir = "/tekton/results"
)

// readDocs reads the YAML documents of a file of the repository.
func readDocs(t *testing.T, rel string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suite.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func decodeStrict(t *testing.T, what string, doc []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, into); err != nil {
		t.Fatalf("decoding %s: %v", what, err)
	}
}

// catalogTask is the published Task, defaulted and validated as Tekton's
// webhook does when it is applied.
func catalogTask(t *testing.T) *v1.Task {
	t.Helper()
	docs := readDocs(t, tektonTaskFile)
	if len(docs) != 1 {
		t.Fatalf("%s has %d documents, want 1", tektonTaskFile, len(docs))
	}
	task := &v1.Task{}
	decodeStrict(t, tektonTaskFile, docs[0], task)
	ctx := context.Background()
	task.SetDefaults(ctx)
	if err := task.Validate(ctx); err != nil {
		t.Fatalf("%s: Tekton's validation: %v", tektonTaskFile, err)
	}
	return task
}

// tektonPod is what runs a TaskRun: the host directory behind each
// workspace binding (PVC, Secret, emptyDir alike), and how image names
// map to images docker has (a cluster's mirror).
type tektonPod struct {
	volumes map[string]string // workspace binding name -> host directory
	images  map[string]string
}

// runTask runs the TaskRun tr of spec the way Tekton's TaskRun reconciler
// and pod do, and returns the TaskRun's results and the steps' output.
func (p tektonPod) runTask(t *testing.T, taskName string, spec *v1.TaskSpec, tr *v1.TaskRun) (map[string]string, string, error) {
	t.Helper()
	ctx := context.Background()
	tr.SetDefaults(ctx)
	if err := tr.Validate(ctx); err != nil {
		t.Fatalf("TaskRun %s: Tekton's validation: %v", tr.Name, err)
	}
	if err := workspace.ValidateBindings(ctx, spec.Workspaces, tr.Spec.Workspaces); err != nil {
		t.Fatalf("TaskRun %s: workspace bindings: %v", tr.Name, err)
	}
	if err := resources.ValidateParamArrayIndex(spec, tr.Spec.Params); err != nil {
		t.Fatalf("TaskRun %s: params: %v", tr.Name, err)
	}

	// As the reconciler's applyParamsContextsResultsAndWorkspaces, then
	// workspace.Apply as it does before building the pod.
	ts := spec.DeepCopy()
	ts = resources.ApplyParameters(ts, tr, ts.Params...)
	ts = resources.ApplyContexts(ts, taskName, tr)
	ts = resources.ApplyResults(ts)
	ts = resources.ApplyArtifacts(ts)
	ts = resources.ApplyStepExitCodePath(ts)
	vols := workspace.CreateVolumes(tr.Spec.Workspaces)
	ts = resources.ApplyWorkspaces(ctx, ts, ts.Workspaces, tr.Spec.Workspaces, vols)
	ts, err := workspace.Apply(ctx, *ts, tr.Spec.Workspaces, vols)
	if err != nil {
		t.Fatalf("TaskRun %s: mounting workspaces: %v", tr.Name, err)
	}
	steps, err := v1.MergeStepsWithStepTemplate(ts.StepTemplate, ts.Steps)
	if err != nil {
		t.Fatal(err)
	}

	// Volume name (as CreateVolumes named it, or the Task's own
	// emptyDirs) -> host directory.
	hostVolumes := map[string]string{}
	for binding, vol := range vols {
		dir, ok := p.volumes[binding]
		if !ok {
			t.Fatalf("TaskRun %s binds workspace %s, which the test gave no directory", tr.Name, binding)
		}
		hostVolumes[vol.Name] = dir
	}
	for _, v := range ts.Volumes {
		if _, ok := hostVolumes[v.Name]; ok {
			continue
		}
		if v.EmptyDir == nil {
			t.Fatalf("Task volume %s is not an emptyDir, which the test cannot provide", v.Name)
		}
		hostVolumes[v.Name] = t.TempDir()
	}

	// The volumes every Tekton step has (pod.go's implicitVolumeMounts,
	// the entrypoint binary's /tekton/bin, /tekton/scripts).
	results := t.TempDir()
	scripts := t.TempDir()
	implicit := []podMount{
		{host: t.TempDir(), container: "/workspace"},
		{host: t.TempDir(), container: "/tekton/home"},
		{host: results, container: tektonResultsDir},
		{host: t.TempDir(), container: "/tekton/steps", readOnly: true},
		{host: t.TempDir(), container: "/tekton/artifacts"},
		{host: t.TempDir(), container: "/tekton/bin", readOnly: true},
		{host: scripts, container: "/tekton/scripts", readOnly: true},
	}

	var logs strings.Builder
	for i, step := range steps {
		checkSubstituted(t, tr.Name, step)
		c := podContainer{
			image:      step.Image,
			command:    step.Command,
			args:       step.Args,
			env:        step.Env,
			workingDir: step.WorkingDir,
			security:   step.SecurityContext,
			mounts:     slices.Clone(implicit),
		}
		if img, ok := p.images[c.image]; ok {
			c.image = img
		}
		if step.Script != "" {
			// Tekton writes the script to a file and runs that.
			file := fmt.Sprintf("script-%d", i)
			if err := os.WriteFile(filepath.Join(scripts, file), []byte(step.Script), 0o755); err != nil {
				t.Fatal(err)
			}
			c.command = []string{"/tekton/scripts/" + file}
		}
		for _, m := range step.VolumeMounts {
			dir, ok := hostVolumes[m.Name]
			if !ok {
				t.Fatalf("step %s mounts volume %s, which no workspace binding provides", step.Name, m.Name)
			}
			if m.SubPath != "" {
				// The kubelet creates a missing subPath.
				dir = filepath.Join(dir, filepath.FromSlash(m.SubPath))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			c.mounts = append(c.mounts, podMount{host: dir, container: m.MountPath, readOnly: m.ReadOnly})
		}
		out, err := dockerRun(t, c)
		logs.WriteString(out)
		if err != nil {
			return nil, logs.String(), fmt.Errorf("step %s: %w", step.Name, err)
		}
	}

	got := map[string]string{}
	for _, r := range ts.Results {
		data, err := os.ReadFile(filepath.Join(results, r.Name))
		if err != nil {
			return nil, logs.String(), fmt.Errorf("result %s: %w", r.Name, err)
		}
		got[r.Name] = string(data)
	}
	return got, logs.String(), nil
}

// checkSubstituted fails the test if a step still holds a $(...)
// variable after Tekton's substitution.
func checkSubstituted(t *testing.T, taskRun string, s v1.Step) {
	t.Helper()
	fields := append([]string{s.Image, s.WorkingDir, s.Script}, s.Command...)
	fields = append(fields, s.Args...)
	for _, e := range s.Env {
		fields = append(fields, e.Value)
	}
	for _, f := range fields {
		if strings.Contains(f, "$(") {
			t.Errorf("TaskRun %s step %s: left unsubstituted: %q", taskRun, s.Name, f)
		}
	}
}

func TestTektonTaskRun(t *testing.T) {
	image := executorImage(t)
	reg := startAuthRegistry(t)
	task := catalogTask(t)

	// The sample TaskRun, pointed at the test's registry and executor.
	docs := readDocs(t, tektonTaskRun)
	tr := &v1.TaskRun{}
	decodeStrict(t, tektonTaskRun, docs[0], tr)
	tr.Name = "kaniko-build-run-e2e"
	dest := reg.Host + "/team/app:latest"
	setParam(t, &tr.Spec.Params, "IMAGE", dest, true)
	setParam(t, &tr.Spec.Params, "BUILDER_IMAGE", image, false)
	if !slices.ContainsFunc(tr.Spec.Params, func(p v1.Param) bool {
		return p.Name == "BUILD_ARGS" && slices.Equal(p.Value.ArrayVal, []string{"VERSION=1.2.3"})
	}) {
		t.Fatalf("the sample TaskRun no longer passes BUILD_ARGS [VERSION=1.2.3]: %+v", tr.Spec.Params)
	}
	tr.Spec.Params = append(tr.Spec.Params, v1.Param{Name: "EXTRA_ARGS", Value: *v1.NewStructuredValues("--label=team=e2e", "--label=tekton=yes")})

	source := t.TempDir()
	writeFiles(t, source, map[string]string{
		"Dockerfile": "FROM " + reg.busybox + "\nARG VERSION\nRUN echo \"$VERSION\" > /version.txt\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "hello from tekton\n",
	})
	pod := tektonPod{volumes: map[string]string{
		"source":       source,
		"dockerconfig": secretVolume(t, map[string][]byte{"config.json": reg.dockerConfig()}),
	}}
	results, logs, err := pod.runTask(t, task.Name, &task.Spec, tr)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	t.Logf("%s", logs)

	digest := reg.digest(t, dest)
	checkDigest(t, "IMAGE_DIGEST", results["IMAGE_DIGEST"], digest)
	if results["IMAGE_URL"] != dest {
		t.Errorf("IMAGE_URL is %q, want %q", results["IMAGE_URL"], dest)
	}
	// IMAGES: each destination as given, pinned by digest (name:tag@digest,
	// which Tekton Chains reads).
	if want := dest + "@" + digest; strings.TrimSuffix(results["IMAGES"], "\n") != want {
		t.Errorf("IMAGES is %q, want %q (one line)", results["IMAGES"], want)
	}

	img := reg.image(t, dest+"@"+digest)
	fs, err := imagecmp.Flatten(img)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"version.txt": "1.2.3\n", "hello.txt": "hello from tekton\n"} {
		f, ok := fs["/"+p]
		if !ok {
			t.Errorf("the image lacks /%s", p)
			continue
		}
		if string(f.Content) != want {
			t.Errorf("/%s is %q, want %q", p, f.Content, want)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.Labels["team"] != "e2e" || cf.Config.Labels["tekton"] != "yes" {
		t.Errorf("EXTRA_ARGS labels missing: %v", cf.Config.Labels)
	}
}

// setParam sets a string param of a run; must says it is already there.
func setParam(t *testing.T, params *v1.Params, name, value string, must bool) {
	t.Helper()
	for i := range *params {
		if (*params)[i].Name == name {
			(*params)[i].Value = *v1.NewStructuredValues(value)
			return
		}
	}
	if must {
		t.Fatalf("the sample has no param %s", name)
	}
	*params = append(*params, v1.Param{Name: name, Value: *v1.NewStructuredValues(value)})
}

// TestTektonPipelineRun runs the sample Pipeline: a task writes the
// Dockerfiles, build-base builds the base, and build-app builds the app
// FROM the base pinned by the digest build-base reported, with the
// PipelineRun reconciler's own scheduling (dag), result resolution and
// substitution.
func TestTektonPipelineRun(t *testing.T) {
	image := executorImage(t)
	reg := startAuthRegistry(t)
	task := catalogTask(t)
	ctx := context.Background()

	docs := readDocs(t, tektonPipeline)
	if len(docs) != 2 {
		t.Fatalf("%s has %d documents, want a Pipeline and a PipelineRun", tektonPipeline, len(docs))
	}
	pipeline, pr := &v1.Pipeline{}, &v1.PipelineRun{}
	decodeStrict(t, tektonPipeline, docs[0], pipeline)
	decodeStrict(t, tektonPipeline, docs[1], pr)
	pr.Name = "kaniko-build-base-and-app-run-e2e"
	baseRef, appRef := reg.Host+"/team/base:latest", reg.Host+"/team/app:latest"
	setParam(t, &pr.Spec.Params, "base-image", baseRef, true)
	setParam(t, &pr.Spec.Params, "app-image", appRef, true)
	pipeline.SetDefaults(ctx)
	pr.SetDefaults(ctx)
	if err := pipeline.Validate(ctx); err != nil {
		t.Fatalf("Pipeline: Tekton's validation: %v", err)
	}
	if pr.Spec.PipelineRef == nil || pr.Spec.PipelineRef.Name != pipeline.Name {
		t.Fatalf("the PipelineRun does not reference the Pipeline %s", pipeline.Name)
	}

	// The PipelineRun's workspaces: the source volume claim, shared by the
	// tasks, and the registry Secret as kubectl create secret
	// docker-registry makes it (.dockerconfigjson).
	prVolumes := map[string]string{
		"source":       t.TempDir(),
		"dockerconfig": secretVolume(t, map[string][]byte{".dockerconfigjson": reg.dockerConfig()}),
	}
	pod := tektonPod{volumes: map[string]string{}, images: map[string]string{
		// The Task's default builder image is the release, not yet
		// published; the sample's busybox is what docker can pull here.
		task.Spec.Params[slices.IndexFunc(task.Spec.Params, func(p v1.ParamSpec) bool { return p.Name == "BUILDER_IMAGE" })].Default.StringVal: image,
		sampleBusybox: suite.bases["busybox"],
	}}

	spec, err := prresources.ApplyParameters(&pipeline.Spec, pr)
	if err != nil {
		t.Fatal(err)
	}
	spec = prresources.ApplyContexts(spec, pipeline.Name, pr)
	spec = prresources.ApplyWorkspaces(spec, pr)
	tasks := v1.PipelineTaskList(spec.Tasks)
	graph, err := dag.Build(tasks, tasks.Deps())
	if err != nil {
		t.Fatal(err)
	}
	var state prresources.PipelineRunState
	for i := range spec.Tasks {
		state = append(state, &prresources.ResolvedPipelineTask{PipelineTask: &spec.Tasks[i]})
	}

	taskResults := map[string][]v1.TaskRunResult{}
	var done []string
	for {
		candidates, err := dag.GetCandidateTasks(graph, done...)
		if err != nil {
			t.Fatal(err)
		}
		if len(candidates) == 0 {
			break
		}
		names := candidates.List()
		sort.Strings(names)
		for _, n := range names {
			rpt := state.ToMap()[n]
			refs, _, err := prresources.ResolveResultRef(state, rpt)
			if err != nil {
				t.Fatalf("task %s: resolving result references: %v", n, err)
			}
			prresources.ApplyTaskResults(prresources.PipelineRunState{rpt}, refs)
			pt := rpt.PipelineTask

			tr := &v1.TaskRun{Spec: v1.TaskRunSpec{Params: pt.Params}}
			tr.Name = pr.Name + "-" + pt.Name
			tr.Namespace = "default"
			var taskSpec *v1.TaskSpec
			switch {
			case pt.TaskRef != nil && pt.TaskRef.Name == task.Name:
				tr.Spec.TaskRef = &v1.TaskRef{Name: task.Name}
				taskSpec = &task.Spec
			case pt.TaskSpec != nil:
				tr.Spec.TaskSpec = &pt.TaskSpec.TaskSpec
				taskSpec = &pt.TaskSpec.TaskSpec
			default:
				t.Fatalf("task %s runs neither %s nor an embedded taskSpec", pt.Name, task.Name)
			}
			// The TaskRun's workspaces, as the reconciler's getTaskrunWorkspaces
			// binds them: a volumeClaimTemplate becomes the claim made for the
			// PipelineRun, shared by its tasks.
			for _, w := range pt.Workspaces {
				prWorkspace := w.Workspace
				if prWorkspace == "" {
					prWorkspace = w.Name
				}
				i := slices.IndexFunc(pr.Spec.Workspaces, func(b v1.WorkspaceBinding) bool { return b.Name == prWorkspace })
				if i < 0 {
					continue // an optional Pipeline workspace the run leaves unbound
				}
				b := *pr.Spec.Workspaces[i].DeepCopy()
				if b.VolumeClaimTemplate != nil {
					claim := volumeclaim.GeneratePVCNameFromWorkspaceBinding(b.VolumeClaimTemplate.Name, b, *kmeta.NewControllerRef(pr))
					b = v1.WorkspaceBinding{SubPath: b.SubPath, PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}
				}
				b.Name = w.Name
				b.SubPath = filepath.Join(b.SubPath, w.SubPath)
				tr.Spec.Workspaces = append(tr.Spec.Workspaces, b)
				pod.volumes[w.Name] = prVolumes[prWorkspace]
			}

			results, logs, err := pod.runTask(t, pt.Name, taskSpec, tr)
			if err != nil {
				t.Fatalf("task %s: %v\n%s", pt.Name, err, logs)
			}
			t.Logf("task %s:\n%s", pt.Name, logs)
			if pt.Name == "write-dockerfiles" {
				pinBaseFrom(t, prVolumes["source"], reg.busybox)
			}

			for _, r := range taskSpec.Results {
				tr.Status.Results = append(tr.Status.Results, v1.TaskRunResult{
					Name: r.Name, Type: v1.ResultsTypeString, Value: *v1.NewStructuredValues(results[r.Name]),
				})
			}
			tr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue})
			rpt.TaskRuns = []*v1.TaskRun{tr}
			taskResults[pt.Name] = tr.Status.Results
			done = append(done, pt.Name)
		}
	}
	if len(done) != len(spec.Tasks) {
		t.Fatalf("ran %v of %d tasks", done, len(spec.Tasks))
	}

	baseDigest, appDigest := reg.digest(t, baseRef), reg.digest(t, appRef)
	result := func(task, name string) string {
		for _, r := range taskResults[task] {
			if r.Name == name {
				return r.Value.StringVal
			}
		}
		t.Fatalf("task %s has no result %s", task, name)
		return ""
	}
	checkDigest(t, "build-base IMAGE_DIGEST", result("build-base", "IMAGE_DIGEST"), baseDigest)
	checkDigest(t, "build-app IMAGE_DIGEST", result("build-app", "IMAGE_DIGEST"), appDigest)
	if got := result("build-app", "IMAGE_URL"); got != appRef {
		t.Errorf("build-app IMAGE_URL is %q, want %q", got, appRef)
	}

	prResults, err := prresources.ApplyTaskResultsToPipelineResults(spec.Results, taskResults, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(prResults) != 1 || prResults[0].Name != "APP_IMAGE" || prResults[0].Value.StringVal != appRef+"@"+appDigest {
		t.Errorf("PipelineRun results %+v, want APP_IMAGE=%s@%s", prResults, appRef, appDigest)
	}

	// The app is FROM the base by digest: its first layers are the base's.
	base, app := reg.image(t, baseRef+"@"+baseDigest), reg.image(t, appRef+"@"+appDigest)
	checkLayerPrefix(t, base, app)
	fs, err := imagecmp.Flatten(app)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"base.txt": "base\n", "app.txt": "app\n"} {
		if f, ok := fs["/"+p]; !ok || string(f.Content) != want {
			t.Errorf("the app image's /%s: present %v, want %q", p, ok, want)
		}
	}
}

// pinBaseFrom points the sample base Dockerfile, which the
// write-dockerfiles task wrote FROM Docker Hub's busybox, at the test
// registry's busybox: the tests reach no registry but their own.
func pinBaseFrom(t *testing.T, source, busybox string) {
	t.Helper()
	p := filepath.Join(source, "base", "Dockerfile")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("write-dockerfiles wrote no base/Dockerfile: %v", err)
	}
	if !bytes.Contains(data, []byte("FROM "+sampleBusybox+"\n")) {
		t.Fatalf("base/Dockerfile is not FROM %s any more:\n%s", sampleBusybox, data)
	}
	data = bytes.ReplaceAll(data, []byte("FROM "+sampleBusybox+"\n"), []byte("FROM "+busybox+"\n"))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTektonTaskParams runs the Task with the params and workspaces the
// sample leaves alone: CONTEXT with the default DOCKERFILE, SKIP_PUSH,
// TARGET, and the optional cache workspace kept between two runs.
func TestTektonTaskParams(t *testing.T) {
	image := executorImage(t)
	reg := startAuthRegistry(t)
	task := catalogTask(t)
	from := "FROM " + reg.busybox
	cases := []struct {
		name   string
		params map[string]string
		cache  bool
		files  map[string]string
		check  func(t *testing.T, dest string, results map[string]string, run int)
	}{{
		name:   "context-with-default-dockerfile",
		params: map[string]string{"CONTEXT": "app"},
		files:  map[string]string{"app/Dockerfile": from + "\nCOPY x.txt /x.txt\n", "app/x.txt": "x\n"},
		check: func(t *testing.T, dest string, results map[string]string, _ int) {
			checkDigest(t, "IMAGE_DIGEST", results["IMAGE_DIGEST"], reg.digest(t, dest))
		},
	}, {
		name:   "skip-push",
		params: map[string]string{"SKIP_PUSH": "true"},
		files:  map[string]string{"Dockerfile": from + "\nRUN echo hi > /hi\n"},
		check: func(t *testing.T, dest string, results map[string]string, _ int) {
			_, err := remote.Head(mustRef(t, dest), reg.auth())
			var terr *transport.Error
			if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
				t.Errorf("SKIP_PUSH=true: looking %s up gave %v, want 404 (not pushed)", dest, err)
			}
			d := results["IMAGE_DIGEST"]
			checkDigest(t, "IMAGE_DIGEST", d, d) // the form only: nothing to compare with
			if results["IMAGE_URL"] != dest {
				t.Errorf("IMAGE_URL is %q, want %q", results["IMAGE_URL"], dest)
			}
		},
	}, {
		name:   "target-and-cache-workspace",
		params: map[string]string{"TARGET": "one"},
		cache:  true,
		files: map[string]string{"Dockerfile": from + " AS one\n" +
			"RUN --mount=type=cache,target=/var/cache/runs sh -c 'echo run >> /var/cache/runs/log && wc -l < /var/cache/runs/log > /runs'\n" +
			"FROM one AS two\nRUN false\n"},
		check: func(t *testing.T, dest string, results map[string]string, run int) {
			digest := reg.digest(t, dest)
			checkDigest(t, "IMAGE_DIGEST", results["IMAGE_DIGEST"], digest)
			fs, err := imagecmp.Flatten(reg.image(t, dest+"@"+digest))
			if err != nil {
				t.Fatal(err)
			}
			// The cache workspace keeps the cache mount's contents: the
			// second run sees the first one's line.
			if f, ok := fs["/runs"]; !ok || strings.TrimSpace(string(f.Content)) != fmt.Sprint(run) {
				t.Errorf("run %d: /runs present %v, want %d", run, ok, run)
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &v1.TaskRun{Spec: v1.TaskRunSpec{TaskRef: &v1.TaskRef{Name: task.Name}}}
			tr.Name = "kaniko-build-" + tc.name
			dest := reg.Host + "/params/" + tc.name + ":1"
			setParam(t, &tr.Spec.Params, "IMAGE", dest, false)
			setParam(t, &tr.Spec.Params, "BUILDER_IMAGE", image, false)
			for k, v := range tc.params {
				setParam(t, &tr.Spec.Params, k, v, false)
			}
			source := t.TempDir()
			writeFiles(t, source, tc.files)
			pod := tektonPod{volumes: map[string]string{
				"source":       source,
				"dockerconfig": secretVolume(t, map[string][]byte{"config.json": reg.dockerConfig()}),
			}}
			tr.Spec.Workspaces = []v1.WorkspaceBinding{
				{Name: "source", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "source"}},
				{Name: "dockerconfig", Secret: &corev1.SecretVolumeSource{SecretName: "registry-credentials"}},
			}
			runs := 1
			if tc.cache {
				pod.volumes["cache"] = t.TempDir()
				tr.Spec.Workspaces = append(tr.Spec.Workspaces,
					v1.WorkspaceBinding{Name: "cache", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cache"}})
				runs = 2
			}
			for run := 1; run <= runs; run++ {
				results, logs, err := pod.runTask(t, task.Name, &task.Spec, tr.DeepCopy())
				if err != nil {
					t.Fatalf("run %d: %v\n%s", run, err, logs)
				}
				tc.check(t, dest, results, run)
			}
		})
	}
}

// TestTektonTaskRunDebianBase builds FROM Debian, whose /var/run is a link
// to /run, in the Task's step, where /var/run is the container's own
// directory holding the service account's mount: the build keeps that
// directory, as Kaniko does, and the image keeps the base's link.
func TestTektonTaskRunDebianBase(t *testing.T) {
	image := executorImage(t)
	reg := startAuthRegistry(t)
	task := catalogTask(t)
	base, err := baseimage.Debian(baseimage.DebianTarball())
	if err != nil {
		t.Fatal(err)
	}
	baseRef := reg.Host + "/base/debian:bookworm"
	if err := baseimage.Push(context.Background(), base, baseRef, reg.auth()); err != nil {
		t.Fatal(err)
	}
	dest := reg.Host + "/team/debian-app:1"
	tr := &v1.TaskRun{}
	tr.Name = "kaniko-build-debian-e2e"
	tr.Spec.TaskRef = &v1.TaskRef{Name: task.Name}
	tr.Spec.Params = v1.Params{
		{Name: "IMAGE", Value: *v1.NewStructuredValues(dest)},
		{Name: "BUILDER_IMAGE", Value: *v1.NewStructuredValues(image)},
	}
	tr.Spec.Workspaces = []v1.WorkspaceBinding{
		{Name: "source", EmptyDir: &corev1.EmptyDirVolumeSource{}},
		{Name: "dockerconfig", Secret: &corev1.SecretVolumeSource{SecretName: "registry-credentials"}},
	}
	source := t.TempDir()
	writeFiles(t, source, map[string]string{
		"Dockerfile": "FROM " + baseRef + "\nRUN test -d /var/run/secrets && echo built > /etc/built.txt\n",
	})
	pod := tektonPod{volumes: map[string]string{
		"source":       source,
		"dockerconfig": secretVolume(t, map[string][]byte{"config.json": reg.dockerConfig()}),
	}}
	results, logs, err := pod.runTask(t, task.Name, &task.Spec, tr)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	digest := reg.digest(t, dest)
	checkDigest(t, "IMAGE_DIGEST", results["IMAGE_DIGEST"], digest)
	fs, err := imagecmp.Flatten(reg.image(t, dest+"@"+digest))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := fs["/etc/built.txt"]; !ok || string(f.Content) != "built\n" {
		t.Errorf("/etc/built.txt: %v %q", ok, f.Content)
	}
	if f, ok := fs["/var/run"]; !ok || f.Target != "/run" {
		t.Errorf("/var/run in the image: %+v, want the base's link to /run", f)
	}
	if _, ok := fs["/var/run/secrets"]; ok {
		t.Errorf("the image has the container's /var/run/secrets")
	}
}
