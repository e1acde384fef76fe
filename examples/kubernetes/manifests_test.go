// Package kubernetes holds no code: its test checks the plain Kubernetes
// and Jenkins examples with the Kubernetes API types.
package kubernetes

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kaniko-build/kaniko-build/catalog"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// decoder decodes YAML the way the API server does with
// fieldValidation=Strict: unknown and duplicate fields are errors.
func decoder() runtime.Decoder {
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

func decodePodSpecs(t *testing.T, name string, data []byte) []corev1.PodSpec {
	t.Helper()
	var specs []corev1.PodSpec
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		obj, gvk, err := decoder().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		switch o := obj.(type) {
		case *corev1.Pod:
			specs = append(specs, o.Spec)
		case *batchv1.Job:
			specs = append(specs, o.Spec.Template.Spec)
		default:
			t.Fatalf("%s: document %d: unexpected %s", name, i, gvk)
		}
	}
	return specs
}

// executorFlags are the executor's flags the examples may use.
func executorFlags() []string {
	return []string{
		"context", "context-sub-path", "dockerfile", "destination", "no-push", "tar-path",
		"oci-layout-path", "digest-file", "image-name-with-digest-file", "image-name-tag-with-digest-file",
		"build-arg", "target", "label", "custom-platform", "reproducible", "insecure", "insecure-pull",
		"insecure-registry", "skip-tls-verify", "skip-tls-verify-pull", "push-retry", "compression",
		"cache", "cache-repo", "cache-dir", "ignore-path", "verbosity", "log-format",
	}
}

// checkPod checks what every example promises: our image as released
// (catalog/release.json, which `make catalog` writes into them), runs the
// executor (or waits for Jenkins in the debug image), not privileged, no
// added capabilities, every mount backed by a volume, credentials mounted
// as /kaniko/.docker/config.json, and only executor flags that exist.
func checkPod(t *testing.T, name string, spec corev1.PodSpec, allowHostPath bool) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
		if v.HostPath != nil && !allowHostPath {
			t.Errorf("%s: hostPath volume %s is not admitted under PodSecurity baseline", name, v.Name)
		}
	}
	forbidden, err := catalog.PodSecurity("baseline", spec)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case allowHostPath && forbidden == "":
		t.Errorf("%s: its comment says baseline forbids it; update the comment", name)
	case !allowHostPath && forbidden != "":
		t.Errorf("%s: not admitted under PodSecurity baseline: %s", name, forbidden)
	}
	for _, c := range spec.Containers {
		release := catalog.Current()
		if c.Image != release.Executor && c.Image != release.Debug {
			t.Errorf("%s: container %s runs %s, not our released image %s or %s (run `make catalog`)",
				name, c.Name, c.Image, release.Executor, release.Debug)
		}
		debug := c.Image == release.Debug
		if want := []string{"/kaniko/executor"}; debug {
			if !slices.Equal(c.Command, []string{"/busybox/cat"}) || !c.TTY {
				t.Errorf("%s: the debug container should wait on /busybox/cat with a tty, got %v", name, c.Command)
			}
		} else if !slices.Equal(c.Command, want) {
			t.Errorf("%s: command is %v, want %v", name, c.Command, want)
		}
		sc := c.SecurityContext
		if sc == nil || sc.Privileged == nil || *sc.Privileged || (sc.Capabilities != nil && len(sc.Capabilities.Add) > 0) {
			t.Errorf("%s: container %s must be explicitly unprivileged with no added capabilities", name, c.Name)
		}
		checkFlags(t, name, c.Args)
		for _, m := range c.VolumeMounts {
			v, ok := volumes[m.Name]
			if !ok {
				t.Errorf("%s: volumeMount %s has no volume", name, m.Name)
				continue
			}
			if m.MountPath == "/kaniko/.docker" {
				checkDockerConfig(t, name, v)
			}
		}
	}
}

func checkDockerConfig(t *testing.T, name string, v corev1.Volume) {
	t.Helper()
	want := []corev1.KeyToPath{{Key: ".dockerconfigjson", Path: "config.json"}}
	if v.Secret == nil || !slices.Equal(v.Secret.Items, want) {
		t.Errorf("%s: /kaniko/.docker should be a Secret with .dockerconfigjson mapped to config.json, got %+v", name, v.VolumeSource)
	}
}

func checkFlags(t *testing.T, name string, args []string) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !slices.Contains(executorFlags(), flag) {
			t.Errorf("%s: unknown executor flag --%s", name, flag)
		}
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestKubernetesExamples(t *testing.T) {
	for _, name := range []string{"pod.yaml", "job.yaml", "job-push.yaml"} {
		specs := decodePodSpecs(t, name, read(t, name))
		for _, spec := range specs {
			checkPod(t, name, spec, name == "pod.yaml")
		}
	}
}

func TestJenkinsfilePodAndCommand(t *testing.T) {
	jenkinsfile := string(read(t, "../jenkins/Jenkinsfile"))
	pod := regexp.MustCompile(`(?s)yaml '''\n(.*?)'''`).FindStringSubmatch(jenkinsfile)
	if pod == nil {
		t.Fatal("Jenkinsfile: no agent pod yaml '''...'''")
	}
	for _, spec := range decodePodSpecs(t, "Jenkinsfile agent pod", []byte(pod[1])) {
		checkPod(t, "Jenkinsfile agent pod", spec, false)
	}
	script := regexp.MustCompile(`(?s)/kaniko/executor(.*?)'''`).FindStringSubmatch(jenkinsfile)
	if script == nil {
		t.Fatal("Jenkinsfile: no /kaniko/executor call")
	}
	checkFlags(t, "Jenkinsfile", strings.Fields(strings.ReplaceAll(script[1], "\\", " ")))
}

func TestJenkinsHelmValuesPodTemplate(t *testing.T) {
	var values struct {
		Agent struct {
			PodTemplates map[string]string `json:"podTemplates"`
		} `json:"agent"`
	}
	if err := yaml.Unmarshal(read(t, "../jenkins/values.yaml"), &values); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	casc, ok := values.Agent.PodTemplates["kaniko-build"]
	if !ok {
		t.Fatal("values.yaml: no agent.podTemplates.kaniko-build")
	}
	var templates []struct {
		Name              string `json:"name"`
		Label             string `json:"label"`
		YAMLMergeStrategy string `json:"yamlMergeStrategy"`
		YAML              string `json:"yaml"`
	}
	if err := yaml.UnmarshalStrict([]byte(casc), &templates); err != nil {
		t.Fatalf("values.yaml: pod template: %v", err)
	}
	if len(templates) != 1 || templates[0].Label != "kaniko-build" {
		t.Fatalf("values.yaml: want one pod template labelled kaniko-build, got %+v", templates)
	}
	for _, spec := range decodePodSpecs(t, "values.yaml pod template", []byte(templates[0].YAML)) {
		checkPod(t, "values.yaml pod template", spec, false)
	}
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	broken := bytes.Replace(read(t, "job.yaml"), []byte("backoffLimit: 0"), []byte("backoffLimit: 0\n  backofLimit: 1"), 1)
	if _, _, err := decoder().Decode(broken, nil, nil); err == nil {
		t.Error("a misspelled field decoded without error")
	}
}
