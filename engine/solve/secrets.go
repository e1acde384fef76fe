package solve

import (
	"fmt"
	"os"
	"strings"
)

// ParseSecrets reads --secret id=ID,src=PATH (or env=VAR) flags into
// Config.Secrets: the file of each id; a variable's value is written to a
// file in tmp.
func ParseSecrets(flags []string, tmp string) (map[string]string, error) {
	out := map[string]string{}
	for _, sflag := range flags {
		var id, src, env string
		for _, kv := range strings.Split(sflag, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				env = v
			case "type":
			default:
				return nil, fmt.Errorf("--secret %q: unknown key %q", sflag, k)
			}
		}
		if id == "" {
			return nil, fmt.Errorf("--secret %q: no id", sflag)
		}
		if src == "" && env == "" {
			env = id
		}
		if src == "" {
			v, ok := os.LookupEnv(env)
			if !ok {
				return nil, fmt.Errorf("--secret %q: environment variable %s is not set", sflag, env)
			}
			f, err := os.CreateTemp(tmp, "secret-env-")
			if err != nil {
				return nil, err
			}
			_, _ = f.WriteString(v)
			f.Close()
			src = f.Name()
		}
		out[id] = src
	}
	return out, nil
}
