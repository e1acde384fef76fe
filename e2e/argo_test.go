//go:build e2e

package e2e

// The Argo WorkflowTemplate, run the way Argo runs it but without a
// cluster: Argo's own substitution (from the pinned argo-workflows) fills
// the template's inputs and the DAG's task arguments; the container then
// runs with `docker run`, unprivileged, with the template's volumes and
// the input artifact where Argo's init container would unpack it. The
// output parameters are read from their valueFrom.path files, as Argo's
// wait container reads them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoutil "github.com/argoproj/argo-workflows/v3/util"
	argotemplate "github.com/argoproj/argo-workflows/v3/util/template"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"

	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
)

const (
	argoManifests = "catalog/argo/kaniko-build/0.1.0/manifests.yaml"
	argoDAG       = "examples/argo/dag-base-and-app.yaml"
	argoVolume    = "examples/argo/volume-context.yaml"
	argoNamespace = "argo"
)

// argoObjects parses a file of the repository with Argo's own strict
// parser (the one argo lint uses).
func argoObjects(t *testing.T, rel string) []any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suite.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	for i, r := range common.ParseObjects(data, true) {
		if r.Err != nil {
			t.Fatalf("%s: document %d: %v", rel, i, r.Err)
		}
		out = append(out, r.Object)
	}
	return out
}

// wftGetter resolves templateRefs to the catalog WorkflowTemplate, as the
// cluster would after it was applied.
type wftGetter map[string]*wfv1.WorkflowTemplate

func (g wftGetter) Get(name string) (*wfv1.WorkflowTemplate, error) {
	if t, ok := g[name]; ok {
		return t.DeepCopy(), nil
	}
	return nil, fmt.Errorf("couldn't find workflow template %q", name)
}

type noClusterTemplates struct{}

func (noClusterTemplates) Get(name string) (*wfv1.ClusterWorkflowTemplate, error) {
	return nil, fmt.Errorf("couldn't find cluster workflow template %q", name)
}

func catalogWorkflowTemplate(t *testing.T) *wfv1.WorkflowTemplate {
	t.Helper()
	objs := argoObjects(t, argoManifests)
	if len(objs) != 1 {
		t.Fatalf("%s has %d objects, want 1", argoManifests, len(objs))
	}
	wft, ok := objs[0].(*wfv1.WorkflowTemplate)
	if !ok {
		t.Fatalf("%s holds a %T", argoManifests, objs[0])
	}
	// What the server checks when the template is created.
	if err := validate.ValidateWorkflowTemplate(wftGetter{wft.Name: wft}, noClusterTemplates{}, wft, nil, validate.ValidateOpts{}); err != nil {
		t.Fatalf("%s: Argo's validation: %v", argoManifests, err)
	}
	return wft
}

// argoPod is what runs a template's pod: the host directories behind its
// Secrets, the Workflow's volumes and the unpacked input artifacts.
type argoPod struct {
	secrets   map[string]string // Secret name -> host directory
	volumes   map[string]string // volume the Workflow provides -> host directory
	artifacts map[string]string // input artifact name -> host directory
	images    map[string]string // image -> the image docker has (a mirror)
}

// run runs tmpl, already substituted, and returns its output parameters
// as Argo sets them (one trailing newline trimmed), the files they were
// read from, and the container's output.
func (p argoPod) run(t *testing.T, tmpl *wfv1.Template) (map[string]string, map[string]string, string, error) {
	t.Helper()
	c := tmpl.Container
	if c == nil {
		t.Fatalf("template %s is not a container template", tmpl.Name)
	}
	fields := append([]string{c.Image, c.WorkingDir}, c.Command...)
	fields = append(fields, c.Args...)
	for _, e := range c.Env {
		fields = append(fields, e.Value)
	}
	for _, v := range tmpl.Volumes {
		if v.Secret != nil {
			fields = append(fields, v.Secret.SecretName)
		}
	}
	for _, f := range fields {
		if strings.Contains(f, "{{") {
			t.Errorf("template %s: left unsubstituted: %q", tmpl.Name, f)
		}
	}

	pc := podContainer{
		image:      c.Image,
		command:    c.Command,
		args:       c.Args,
		env:        c.Env,
		workingDir: c.WorkingDir,
		security:   c.SecurityContext,
		// The emissary executor's own volume, in every main container.
		mounts: []podMount{{host: t.TempDir(), container: "/var/run/argo", readOnly: true}},
	}
	if img, ok := p.images[pc.image]; ok {
		pc.image = img
	}
	// One host directory per volume, shared by the init containers and
	// the main one.
	dirs := map[string]string{}
	volumeDir := func(m corev1.VolumeMount) string {
		if dir, ok := dirs[m.Name]; ok {
			return dir
		}
		var dir string
		i := slices.IndexFunc(tmpl.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		switch {
		case i >= 0 && tmpl.Volumes[i].EmptyDir != nil:
			dir = t.TempDir()
		case i >= 0 && tmpl.Volumes[i].Secret != nil:
			s := tmpl.Volumes[i].Secret
			var ok bool
			if dir, ok = p.secrets[s.SecretName]; !ok {
				if s.Optional == nil || !*s.Optional {
					t.Fatalf("template %s needs Secret %s", tmpl.Name, s.SecretName)
				}
				dir = t.TempDir() // an optional Secret that is missing: an empty volume
			}
		case i >= 0:
			t.Fatalf("template %s: volume %s is of a kind the test does not provide", tmpl.Name, m.Name)
		default:
			var ok bool
			if dir, ok = p.volumes[m.Name]; !ok {
				t.Fatalf("template %s mounts %s, which neither it nor the Workflow declares", tmpl.Name, m.Name)
			}
		}
		dirs[m.Name] = dir
		return dir
	}
	mountsOf := func(vms []corev1.VolumeMount) []podMount {
		var out []podMount
		for _, m := range vms {
			dir := volumeDir(m)
			if m.SubPath != "" {
				dir = filepath.Join(dir, filepath.FromSlash(m.SubPath))
			}
			out = append(out, podMount{host: dir, container: m.MountPath, readOnly: m.ReadOnly})
		}
		return out
	}
	pc.mounts = append(pc.mounts, mountsOf(c.VolumeMounts)...)
	var initLogs strings.Builder
	for _, ic := range tmpl.InitContainers {
		ipc := podContainer{
			image: ic.Image, command: ic.Command, args: ic.Args, env: ic.Env,
			workingDir: ic.WorkingDir, security: ic.SecurityContext,
			mounts: append([]podMount{{host: t.TempDir(), container: "/var/run/argo", readOnly: true}}, mountsOf(ic.VolumeMounts)...),
		}
		if img, ok := p.images[ipc.image]; ok {
			ipc.image = img
		}
		out, err := dockerRun(t, ipc)
		initLogs.WriteString(out)
		if err != nil {
			return nil, nil, initLogs.String(), fmt.Errorf("init container %s: %w", ic.Name, err)
		}
	}
	for _, a := range tmpl.Inputs.Artifacts {
		dir, ok := p.artifacts[a.Name]
		if !ok {
			if !a.Optional {
				t.Fatalf("template %s needs input artifact %s", tmpl.Name, a.Name)
			}
			continue
		}
		pc.mounts = append(pc.mounts, podMount{host: dir, container: a.Path})
	}

	logs, err := dockerRun(t, pc)
	logs = initLogs.String() + logs
	if err != nil {
		return nil, nil, logs, err
	}
	outputs, files := map[string]string{}, map[string]string{}
	for _, o := range tmpl.Outputs.Parameters {
		if o.ValueFrom == nil || o.ValueFrom.Path == "" {
			continue
		}
		host, ok := hostPath(pc.mounts, o.ValueFrom.Path)
		if !ok {
			return nil, nil, logs, fmt.Errorf("output %s: %s is on no volume, so the wait container cannot read it", o.Name, o.ValueFrom.Path)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, nil, logs, fmt.Errorf("output %s: %w", o.Name, err)
		}
		files[o.Name] = string(data)
		outputs[o.Name] = strings.TrimSuffix(string(data), "\n")
		if o.Name == "digest" {
			files["image.tar"], _ = hostPath(pc.mounts, filepath.Join(filepath.Dir(o.ValueFrom.Path), "image.tar"))
		}
	}
	return outputs, files, logs, nil
}

// substitute fills tmpl's inputs from args as the controller does before
// it creates the pod.
func substitute(t *testing.T, tmpl *wfv1.Template, args *wfv1.Arguments, globals common.Parameters) *wfv1.Template {
	t.Helper()
	out, err := common.ProcessArgs(tmpl, args, globals, common.Parameters{}, false, argoNamespace, nil)
	if err != nil {
		t.Fatalf("substituting template %s: %v", tmpl.Name, err)
	}
	return out
}

func param(name, value string) wfv1.Parameter {
	return wfv1.Parameter{Name: name, Value: wfv1.AnyStringPtr(value)}
}

// TestArgoBuildTemplate runs the build template as a templateRef caller
// would use it: a context from the source artifact, JSON build args and
// extra flags, save-tar, and the registry Secret.
func TestArgoBuildTemplate(t *testing.T) {
	image := executorImage(t)
	reg := startAuthRegistry(t)
	wft := catalogWorkflowTemplate(t)
	build := wft.GetTemplateByName("build")
	if build == nil {
		t.Fatal("the WorkflowTemplate has no build template")
	}

	dest := reg.Host + "/team/argo:latest"
	args := wfv1.Arguments{Parameters: []wfv1.Parameter{
		param("image", dest),
		param("context", "/workspace/source/app"),
		param("build-args", `["VERSION=2.0", "QUOTE=a \"b\" c"]`),
		param("extra-args", `["--label=argo=yes"]`),
		param("save-tar", "true"),
		param("docker-config-secret", "registry-credentials"),
		param("builder-image", image),
	}}
	tmpl := substitute(t, build, &args, common.Parameters{})

	checkout := t.TempDir()
	writeFiles(t, checkout, map[string]string{
		"app/Dockerfile": "FROM " + reg.busybox + "\nARG VERSION\nARG QUOTE\n" +
			"RUN echo \"$VERSION\" > /version.txt && echo \"$QUOTE\" > /quote.txt\nCOPY hello.txt /\n",
		"app/hello.txt": "hello from argo\n",
	})
	pod := argoPod{
		secrets:   map[string]string{"registry-credentials": secretVolume(t, map[string][]byte{"config.json": reg.dockerConfig()})},
		artifacts: map[string]string{"source": checkout},
	}
	outputs, files, logs, err := pod.run(t, tmpl)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	t.Logf("%s", logs)

	digest := reg.digest(t, dest)
	checkDigest(t, "output digest", outputs["digest"], digest)
	checkDigest(t, "the digest file", files["digest"], digest)
	if outputs["image-url"] != dest {
		t.Errorf("output image-url is %q, want %q", outputs["image-url"], dest)
	}
	if want := dest + "@" + digest; outputs["images"] != want {
		t.Errorf("output images is %q, want %q", outputs["images"], want)
	}

	img := reg.image(t, dest+"@"+digest)
	fs, err := imagecmp.Flatten(img)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/version.txt": "2.0\n", "/quote.txt": "a \"b\" c\n", "/hello.txt": "hello from argo\n"} {
		if f, ok := fs[p]; !ok || string(f.Content) != want {
			t.Errorf("%s: present %v, want %q", p, ok, want)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.Labels["argo"] != "yes" {
		t.Errorf("extra-args label missing: %v", cf.Config.Labels)
	}

	// save-tar: the image-tar output artifact holds the same image.
	tar, err := tarball.ImageFromPath(files["image.tar"], nil)
	if err != nil {
		t.Fatalf("the image-tar artifact: %v", err)
	}
	tarCfg, err := tar.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	pushedCfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if tarCfg != pushedCfg {
		t.Errorf("image-tar has config %s, the pushed image %s", tarCfg, pushedCfg)
	}
}

// TestArgoDAG runs the DAG example as `argo submit -p base-image=...
// -p app-image=...` would: build-base, then build-app with build-base's
// outputs substituted into its build-args (the base pinned by digest), then
// run-app runs the app image pinned by digest.
func TestArgoDAG(t *testing.T) {
	image := executorImage(t)
	reg := startAuthRegistry(t)
	wft := catalogWorkflowTemplate(t)

	objs := argoObjects(t, argoDAG)
	wf, ok := objs[0].(*wfv1.Workflow)
	if len(objs) != 1 || !ok {
		t.Fatalf("%s: want one Workflow", argoDAG)
	}
	baseRef, appRef := reg.Host+"/team/base:latest", reg.Host+"/team/app:latest"
	wf.Spec.Arguments.Parameters = argoutil.MergeParameters(
		[]wfv1.Parameter{param("base-image", baseRef), param("app-image", appRef)}, wf.Spec.Arguments.Parameters)
	if err := validate.ValidateWorkflow(wftGetter{wft.Name: wft}, noClusterTemplates{}, wf, nil, validate.ValidateOpts{Submit: true}); err != nil {
		t.Fatalf("%s: Argo's validation for submission: %v", argoDAG, err)
	}
	globals := common.Parameters{}
	for _, p := range wf.Spec.Arguments.Parameters {
		globals["workflow.parameters."+p.Name] = p.Value.String()
	}

	// The git artifact: this repository's examples/argo, with the base
	// FROM the test registry's busybox (the tests reach no other registry).
	checkout := t.TempDir()
	files := map[string]string{}
	for _, dir := range []string{"base", "app"} {
		data, err := os.ReadFile(filepath.Join(suite.root, "examples", "argo", dir, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		files["examples/argo/"+dir+"/Dockerfile"] = string(data)
	}
	base := files["examples/argo/base/Dockerfile"]
	if !strings.HasPrefix(base, "FROM "+sampleBusybox+"\n") {
		t.Fatalf("examples/argo/base/Dockerfile is not FROM %s any more:\n%s", sampleBusybox, base)
	}
	files["examples/argo/base/Dockerfile"] = "FROM " + reg.busybox + "\n" + strings.TrimPrefix(base, "FROM "+sampleBusybox+"\n")
	writeFiles(t, checkout, files)

	pod := argoPod{
		secrets:   map[string]string{"docker-config": secretVolume(t, map[string][]byte{"config.json": reg.dockerConfig()})},
		artifacts: map[string]string{"source": checkout},
	}
	entry := wf.GetTemplateByName(wf.Spec.Entrypoint)
	if entry == nil || entry.DAG == nil {
		t.Fatalf("%s: the entrypoint is not a DAG", argoDAG)
	}
	scope := common.Parameters{}
	done := map[string]bool{}
	var runOutput string
	for _, task := range entry.DAG.Tasks {
		if task.Depends != "" && !done[task.Depends] {
			t.Fatalf("task %s depends on %q, which has not run", task.Name, task.Depends)
		}
		// As the controller's resolveDependencyReferences: the task's
		// fields with globals and the finished tasks' outputs replaced.
		taskJSON, err := json.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		resolved, err := argotemplate.Replace(string(taskJSON), globals.Merge(scope), true)
		if err != nil {
			t.Fatalf("task %s: %v", task.Name, err)
		}
		var rt wfv1.DAGTask
		if err := json.Unmarshal([]byte(resolved), &rt); err != nil {
			t.Fatal(err)
		}

		switch {
		case rt.TemplateRef != nil:
			if rt.TemplateRef.Name != wft.Name || rt.TemplateRef.ClusterScope {
				t.Fatalf("task %s references %+v", rt.Name, rt.TemplateRef)
			}
			for _, a := range rt.Arguments.Artifacts {
				if a.Name != "source" || a.Git == nil {
					t.Fatalf("task %s passes artifact %+v; the test provides a git checkout as source", rt.Name, a)
				}
			}
			rt.Arguments.Parameters = append(rt.Arguments.Parameters, param("builder-image", image))
			tmpl := substitute(t, wft.GetTemplateByName(rt.TemplateRef.Template), &rt.Arguments, globals)
			outputs, files, logs, err := pod.run(t, tmpl)
			if err != nil {
				t.Fatalf("task %s: %v\n%s", rt.Name, err, logs)
			}
			t.Logf("task %s:\n%s", rt.Name, logs)
			if files["digest"] != outputs["digest"] {
				t.Errorf("task %s: the digest file is %q, with a trailing newline", rt.Name, files["digest"])
			}
			for k, v := range outputs {
				scope["tasks."+rt.Name+".outputs.parameters."+k] = v
			}
		case rt.Template == "run":
			tmpl := substitute(t, wf.GetTemplateByName(rt.Template), &rt.Arguments, globals)
			// The pod pulls the app with the registry credentials, as an
			// imagePullSecret would.
			pullConfig := t.TempDir()
			writeFiles(t, pullConfig, map[string]string{"config.json": string(reg.dockerConfig())})
			out, err := dockerRun(t, podContainer{image: tmpl.Container.Image, dockerConfig: pullConfig})
			t.Cleanup(func() { removeDockerImage(tmpl.Container.Image) })
			if err != nil {
				t.Fatalf("task %s: %v\n%s", rt.Name, err, out)
			}
			t.Logf("task %s:\n%s", rt.Name, out)
			runOutput = out
		default:
			t.Fatalf("task %s runs template %q, which the test does not know", rt.Name, rt.Template)
		}
		done[rt.Name] = true
	}

	baseDigest, appDigest := reg.digest(t, baseRef), reg.digest(t, appRef)
	checkDigest(t, "build-base's digest", scope["tasks.build-base.outputs.parameters.digest"], baseDigest)
	checkDigest(t, "build-app's digest", scope["tasks.build-app.outputs.parameters.digest"], appDigest)
	if got := scope["tasks.build-app.outputs.parameters.image-url"]; got != appRef {
		t.Errorf("build-app's image-url is %q, want %q", got, appRef)
	}
	checkLayerPrefix(t, reg.image(t, baseRef+"@"+baseDigest), reg.image(t, appRef+"@"+appDigest))
	if !strings.HasSuffix(runOutput, "\nbase\napp\n") {
		t.Errorf("run-app printed %q, want base and app", runOutput)
	}
}

// TestArgoVolumeExample runs the volume example: a busybox step writes a
// Dockerfile into the Workflow's workspace volume, and build-from-volume
// builds it with --no-push (extra-args).
func TestArgoVolumeExample(t *testing.T) {
	image := executorImage(t)
	reg := startAuthRegistry(t)
	wft := catalogWorkflowTemplate(t)

	objs := argoObjects(t, argoVolume)
	wf, ok := objs[0].(*wfv1.Workflow)
	if len(objs) != 1 || !ok {
		t.Fatalf("%s: want one Workflow", argoVolume)
	}
	if err := validate.ValidateWorkflow(wftGetter{wft.Name: wft}, noClusterTemplates{}, wf, nil, validate.ValidateOpts{Submit: true}); err != nil {
		t.Fatalf("%s: Argo's validation for submission: %v", argoVolume, err)
	}
	pod := argoPod{
		secrets: map[string]string{"docker-config": secretVolume(t, map[string][]byte{"config.json": reg.dockerConfig()})},
		volumes: map[string]string{},
		images:  map[string]string{sampleBusybox: suite.bases["busybox"]},
	}
	for _, c := range wf.Spec.VolumeClaimTemplates {
		pod.volumes[c.Name] = t.TempDir()
	}
	dest := reg.Host + "/team/from-volume:latest"

	entry := wf.GetTemplateByName(wf.Spec.Entrypoint)
	if entry == nil || len(entry.Steps) != 2 {
		t.Fatalf("%s: the entrypoint is not two steps", argoVolume)
	}
	var outputs map[string]string
	for _, group := range entry.Steps {
		for _, step := range group.Steps {
			switch {
			case step.Template == "write-dockerfile":
				tmpl := substitute(t, wf.GetTemplateByName(step.Template), &step.Arguments, common.Parameters{})
				// The Dockerfile it writes is FROM the test registry's
				// busybox: the tests reach no other registry.
				for i, e := range tmpl.Container.Env {
					if e.Name == "DOCKERFILE" {
						if !strings.HasPrefix(e.Value, "FROM "+sampleBusybox+"\n") {
							t.Fatalf("the example's Dockerfile is not FROM %s any more:\n%s", sampleBusybox, e.Value)
						}
						tmpl.Container.Env[i].Value = "FROM " + reg.busybox + "\n" + strings.TrimPrefix(e.Value, "FROM "+sampleBusybox+"\n")
					}
				}
				if _, _, logs, err := pod.run(t, tmpl); err != nil {
					t.Fatalf("step %s: %v\n%s", step.Name, err, logs)
				}
			case step.TemplateRef != nil && step.TemplateRef.Template == "build-from-volume":
				// Pointed at the test registry, which with --no-push is
				// only read from (the base image).
				args := step.Arguments.DeepCopy()
				args.Parameters = argoutil.MergeParameters(
					[]wfv1.Parameter{param("image", dest), param("builder-image", image)}, args.Parameters)
				tmpl := substitute(t, wft.GetTemplateByName(step.TemplateRef.Template), args, common.Parameters{})
				if !slices.Contains(tmpl.Container.Args, `--extra-args-json=["--no-push"]`) {
					t.Fatalf("the example's build no longer passes --no-push: %q", tmpl.Container.Args)
				}
				var logs string
				var err error
				outputs, _, logs, err = pod.run(t, tmpl)
				if err != nil {
					t.Fatalf("step %s: %v\n%s", step.Name, err, logs)
				}
				t.Logf("step %s:\n%s", step.Name, logs)
			default:
				t.Fatalf("step %s: the test does not know it", step.Name)
			}
		}
	}
	d := outputs["digest"]
	checkDigest(t, "output digest", d, d) // the form only: nothing was pushed
	if outputs["image-url"] != dest {
		t.Errorf("output image-url is %q, want %q", outputs["image-url"], dest)
	}
	_, err := remote.Head(mustRef(t, dest), reg.auth())
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Errorf("--no-push: looking %s up gave %v, want 404 (not pushed)", dest, err)
	}
}

// removeDockerImage drops an image a test pulled into docker.
func removeDockerImage(ref string) {
	exec.Command("docker", "rmi", ref).Run()
}
