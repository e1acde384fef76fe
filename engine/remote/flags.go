package remote

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine/plan"
)

// RegistryOptions are the registry flags the executor and the warmer
// share, Kaniko's. AddFlags declares them, Finish completes them after
// parsing, and Options turns them into the Options of the calls.
type RegistryOptions struct {
	// TransportOptions are the plain HTTP and TLS verification flags.
	TransportOptions
	// Retries is how many times a failed request is retried: --push-retry,
	// raised by --image-download-retry and --image-fs-extract-retry;
	// 0 means as often as DefaultRetryBudget allows.
	Retries int
	// Certificates maps a registry to a CA bundle file.
	Certificates map[string]string
	// ClientCerts maps a registry to "cert-file,key-file".
	ClientCerts map[string]string
	// Mirrors are tried before Docker Hub for its images.
	Mirrors []string
	// Map maps a registry to mirrors tried before it.
	Map map[string][]string
	// MirrorsOnly never falls back to a registry that has mirrors
	// (--skip-default-registry-fallback).
	MirrorsOnly bool
	// DockerConfig is the directory holding config.json; empty means
	// $DOCKER_CONFIG, else ~/.docker.
	DockerConfig string

	raw rawRegistryFlags
}

// TransportOptions are the registry flags on plain HTTP and TLS
// verification.
type TransportOptions struct {
	// Insecure pushes over plain HTTP; InsecurePull pulls over it.
	Insecure     bool
	InsecurePull bool
	// InsecureRegistries are registries reached over plain HTTP.
	InsecureRegistries []string
	// SkipTLSVerify skips TLS verification for pushes; ...Pull for pulls.
	SkipTLSVerify     bool
	SkipTLSVerifyPull bool
	// SkipTLSVerifyRegistries skip TLS verification for these registries.
	SkipTLSVerifyRegistries []string
}

// rawRegistryFlags are the raw values of the flags Finish parses.
type rawRegistryFlags struct {
	maps, certs, clientCerts    []string
	downloadRetry, extractRetry int
}

// AddFlags declares the registry flags on fs.
func (r *RegistryOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&r.Insecure, "insecure", false, "push over plain HTTP")
	fs.BoolVar(&r.InsecurePull, "insecure-pull", false, "pull over plain HTTP")
	fs.StringArrayVar(&r.InsecureRegistries, "insecure-registry", nil, "registry reached over plain HTTP (repeatable)")
	fs.BoolVar(&r.SkipTLSVerify, "skip-tls-verify", false, "do not verify TLS certificates when pushing")
	fs.BoolVar(&r.SkipTLSVerifyPull, "skip-tls-verify-pull", false, "do not verify TLS certificates when pulling")
	fs.StringArrayVar(&r.SkipTLSVerifyRegistries, "skip-tls-verify-registry", nil, "registry whose TLS certificate is not verified (repeatable)")
	fs.IntVar(&r.Retries, "push-retry", 0, "times to retry a failed registry request (default: for up to 14s)")
	fs.IntVar(&r.raw.downloadRetry, "image-download-retry", 0, "times to retry pulling a base image (default: as --push-retry)")
	fs.IntVar(&r.raw.extractRetry, "image-fs-extract-retry", 0, "times to retry pulling a base image layer (default: as --push-retry)")
	fs.StringArrayVar(&r.Mirrors, "registry-mirror", nil, "mirror tried before Docker Hub (repeatable; also $KANIKO_REGISTRY_MIRROR)")
	fs.StringArrayVar(&r.raw.maps, "registry-map", nil, "REGISTRY=MIRROR[;REGISTRY=MIRROR...]: mirrors tried before REGISTRY, in order (repeatable; also $KANIKO_REGISTRY_MAP)")
	fs.StringArrayVar(&r.raw.certs, "registry-certificate", nil, "REGISTRY=CA-FILE: trust this CA bundle for REGISTRY (repeatable)")
	fs.StringArrayVar(&r.raw.clientCerts, "registry-client-cert", nil, "REGISTRY=CERT-FILE,KEY-FILE: client certificate for REGISTRY (repeatable)")
	fs.BoolVar(&r.MirrorsOnly, "skip-default-registry-fallback", false, "with mirrors, never fall back to Docker Hub")
}

// Finish adds Kaniko's $KANIKO_REGISTRY_MIRROR and $KANIKO_REGISTRY_MAP
// after the flags, as Kaniko does, and parses the flags pflag cannot;
// errors name the flag. Call it once, after parsing.
func (r *RegistryOptions) Finish() error {
	if v := os.Getenv("KANIKO_REGISTRY_MIRROR"); v != "" {
		r.Mirrors = append(r.Mirrors, v)
	}
	if v := os.Getenv("KANIKO_REGISTRY_MAP"); v != "" {
		r.raw.maps = append(r.raw.maps, v)
	}
	r.InsecureRegistries = slices.DeleteFunc(r.InsecureRegistries, func(s string) bool { return s == "" })
	var err error
	if r.Certificates, err = keyValues("--registry-certificate", r.Certificates, r.raw.certs); err != nil {
		return err
	}
	if r.ClientCerts, err = keyValues("--registry-client-cert", r.ClientCerts, r.raw.clientCerts); err != nil {
		return err
	}
	if r.Map, err = registryMaps(r.Map, r.raw.maps); err != nil {
		return err
	}
	r.Retries = max(r.Retries, r.raw.downloadRetry, r.raw.extractRetry)
	return nil
}

// Options returns the Options these flags ask for, pulling for platform
// p, its calls sharing connections and tokens (see Shared).
func (r RegistryOptions) Options(p v1.Platform) (Options, error) {
	clientCerts := map[string][2]string{}
	for reg, v := range r.ClientCerts {
		cert, key, ok := strings.Cut(v, ",")
		if !ok {
			return Options{}, fmt.Errorf("--registry-client-cert %s=%s: want CERT-FILE,KEY-FILE", reg, v)
		}
		clientCerts[reg] = [2]string{cert, key}
	}
	return Options{
		Insecure: r.Insecure, InsecurePull: r.InsecurePull,
		InsecureRegistries: r.InsecureRegistries,
		TLS: TLSOptions{
			SkipVerify: r.SkipTLSVerify, SkipVerifyPull: r.SkipTLSVerifyPull,
			SkipVerifyRegistries: r.SkipTLSVerifyRegistries,
			Certificates:         r.Certificates, ClientCerts: clientCerts,
		},
		Mirrors: r.Mirrors, RegistryMap: r.Map, MirrorsOnly: r.MirrorsOnly,
		Retries: r.Retries, Platform: p, DockerConfig: r.DockerConfig,
	}.Shared(), nil
}

// ParsePlatform parses a platform flag as v1.ParsePlatform does
// (os/arch[/variant] or os/arch:osversion), refusing an empty os or arch.
// "" is this machine's platform.
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}, nil
	}
	return plan.ParsePlatform(s)
}

// registryMaps adds --registry-map values to m as Kaniko reads them:
// pairs REGISTRY=MIRROR separated by ";", repeated flags adding mirrors
// in order. A piece without "=" is one more mirror for the registry
// before it (REGISTRY=M1;M2).
func registryMaps(m map[string][]string, in []string) (map[string][]string, error) {
	if m == nil {
		m = map[string][]string{}
	}
	for _, v := range in {
		reg := ""
		for _, piece := range strings.Split(v, ";") {
			if piece == "" {
				continue
			}
			k, mirror, ok := strings.Cut(piece, "=")
			if ok {
				reg = k
			} else {
				mirror = piece
			}
			if reg == "" || mirror == "" {
				return nil, fmt.Errorf("--registry-map %q: want REGISTRY=MIRROR[;REGISTRY=MIRROR...]", v)
			}
			m[reg] = append(m[reg], mirror)
		}
	}
	return m, nil
}

// keyValues adds repeated KEY=VALUE flags to m.
func keyValues(flag string, m map[string]string, in []string) (map[string]string, error) {
	if m == nil {
		m = map[string]string{}
	}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}
