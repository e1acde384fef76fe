package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// noise reports keys whose empty value ({} or null) the Kubernetes and
// Tekton types marshal although nobody wrote them. Empty values elsewhere,
// such as `emptyDir: {}` or `default: []`, carry meaning and are kept.
func noise(key string) bool {
	switch key {
	case "creationTimestamp", "computeResources", "resources", "metadata", "status", "inputs", "outputs", "arguments":
		return true
	}
	return false
}

// YAML renders objects as one YAML stream, with the generated-file header
// and `---` between documents.
func YAML(objs ...any) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString(GeneratedHeader)
	for i, obj := range objs {
		if i > 0 {
			out.WriteString("---\n")
		}
		doc, err := document(obj)
		if err != nil {
			return nil, err
		}
		out.Write(doc)
	}
	return out.Bytes(), nil
}

// document renders one object without the noise keys.
func document(obj any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", obj, err)
	}
	tree = prune(tree)
	doc, err := yaml.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("rendering %T as YAML: %w", obj, err)
	}
	return doc, nil
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			child = prune(child)
			// null never means anything in a manifest, and no name is
			// ever "" on purpose (Argo's container has an unused one).
			if child == nil || (k == "name" && child == "") || (noise(k) && empty(child)) {
				delete(t, k)
				continue
			}
			t[k] = child
		}
		return t
	case []any:
		for i := range t {
			t[i] = prune(t[i])
		}
		return t
	default:
		return v
	}
}

func empty(v any) bool {
	if v == nil {
		return true
	}
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}
