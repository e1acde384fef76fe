package solve

import (
	"fmt"
	"os"
	"strings"
)

// ParseSecrets reads --secret id=ID,src=PATH (or env=VAR) flags into
// Config.Secrets, each secret's content read now, once, so that nothing
// but the RUN that mounts one finds it on disk. files lists the src files
// read; lookupEnv finds env secrets.
func ParseSecrets(flags []string, lookupEnv func(string) (string, bool)) (_ map[string][]byte, files []string, _ error) {
	out := map[string][]byte{}
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
				return nil, nil, fmt.Errorf("--secret %q: unknown key %q", sflag, k)
			}
		}
		if id == "" {
			return nil, nil, fmt.Errorf("--secret %q: no id", sflag)
		}
		if src == "" && env == "" {
			env = id
		}
		if src == "" {
			v, ok := lookupEnv(env)
			if !ok {
				return nil, nil, fmt.Errorf("--secret %q: environment variable %s is not set", sflag, env)
			}
			out[id] = []byte(v)
			continue
		}
		dt, err := os.ReadFile(src)
		if err != nil {
			return nil, nil, fmt.Errorf("--secret %q: %w", sflag, err)
		}
		out[id] = dt
		files = append(files, src)
	}
	return out, files, nil
}
