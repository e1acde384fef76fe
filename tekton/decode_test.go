package tekton

import (
	"fmt"
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"
)

// admittable is what Tekton's webhooks call on an admitted object.
type admittable interface {
	apis.Defaultable
	apis.Validatable
}

// decodeAll strictly decodes every document of a generated YAML stream
// into the Tekton (or core) type its kind names: unknown fields fail.
func decodeAll(t *testing.T, name string, data []byte) []any {
	t.Helper()
	var objs []any
	for i, doc := range strings.Split(string(data), "\n---\n") {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		obj, err := newObject(meta.APIVersion, meta.Kind)
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: document %d: decoding %s strictly: %v", name, i, meta.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "tekton.dev/v1/Task":
		return &v1.Task{}, nil
	case "tekton.dev/v1/TaskRun":
		return &v1.TaskRun{}, nil
	case "tekton.dev/v1/Pipeline":
		return &v1.Pipeline{}, nil
	case "tekton.dev/v1/PipelineRun":
		return &v1.PipelineRun{}, nil
	case "tekton.dev/v1beta1/StepAction":
		return &v1beta1.StepAction{}, nil
	case "v1/PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	}
	return nil, fmt.Errorf("unexpected kind %s/%s", apiVersion, kind)
}

// generated returns the decoded objects of every generated YAML file.
func generated(t *testing.T) map[string][]any {
	t.Helper()
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]any{}
	for _, p := range files.Paths() {
		if strings.HasSuffix(p, ".yaml") {
			out[p] = decodeAll(t, p, files[p])
		}
	}
	return out
}
