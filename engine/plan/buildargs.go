package plan

import (
	"fmt"
	"strings"
)

// ParseBuildArgs reads --build-arg values: KEY=VALUE, or KEY for the
// value lookup gives it (the environment's), left out when it has none.
func ParseBuildArgs(in []string, lookup func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range in {
		k, v, ok := strings.Cut(a, "=")
		if k == "" {
			return nil, fmt.Errorf("--build-arg %q: no name", a)
		}
		if !ok {
			env, set := lookup(k)
			if !set {
				continue
			}
			v = env
		}
		out[k] = v
	}
	return out, nil
}
