package plan

import (
	"slices"
	"strings"
)

// SetEnv sets k=v in env, a KEY=VALUE list, in a copy.
func SetEnv(env []string, k, v string) []string {
	out := slices.Clone(env)
	for i, e := range out {
		if strings.HasPrefix(e, k+"=") {
			out[i] = k + "=" + v
			return out
		}
	}
	return append(out, k+"="+v)
}

// GetEnv looks k up in env, the last setting winning.
func GetEnv(env []string, k string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if key, v, _ := strings.Cut(env[i], "="); key == k {
			return v, true
		}
	}
	return "", false
}

// proxyArgs are passed to RUN without being declared, and never kept.
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

func isProxyArg(k string) bool { return slices.Contains(proxyArgs, k) }
