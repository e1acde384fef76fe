package buildctx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Options say where the build's inputs are.
type Options struct {
	// Source is the build context: a directory, dir://, tar://, git://,
	// s3://, gs://, an Azure Blob URL or an https:// tarball; empty means
	// ".".
	Source string
	// SubPath is a directory inside the context to use instead.
	SubPath string
	// Git holds --git options: branch=,single-branch=,recurse-submodules=.
	Git string
	// GitPullMethod is how git:// contexts are cloned: https or http.
	GitPullMethod string
	// GitAuth is a git:// context's credentials. AddFlags reads them from
	// the environment as Kaniko does (GitAuthFromEnv): GIT_TOKEN, or
	// GIT_USERNAME and GIT_PASSWORD.
	GitAuth GitAuth
	// Cloud holds the settings of s3://, gs:// and Azure Blob contexts.
	// AddFlags reads them from the environment as Kaniko does
	// (CloudOptionsFromEnv): S3_ENDPOINT, S3_FORCE_PATH_STYLE,
	// AZURE_STORAGE_ACCESS_KEY, AZURE_STORAGE_BLOB_ENDPOINT and
	// STORAGE_EMULATOR_HOST.
	Cloud CloudOptions
	// Stdin is read for a tar://stdin context.
	Stdin io.Reader
	// Dockerfile is the Dockerfile's path or URL; a relative path is tried
	// as given, then in the context. Empty means "Dockerfile".
	Dockerfile string
}

// AddFlags declares the context flags on fs, and sets GitAuth from
// $GIT_TOKEN, $GIT_USERNAME and $GIT_PASSWORD, and Cloud from the cloud
// contexts' variables.
func (c *Options) AddFlags(fs *pflag.FlagSet) {
	c.GitAuth = GitAuthFromEnv(os.Getenv)
	c.Cloud = CloudOptionsFromEnv(os.Getenv)
	fs.StringVarP(&c.Source, "context", "c", "/workspace/", "build context: a directory, dir://path, tar://path.tar.gz, tar://stdin, git://host/repo.git#ref, s3://bucket/path.tar.gz, gs://bucket/path.tar.gz, https://ACCOUNT.blob.core.windows.net/container/path.tar.gz, or https://.../context.tar.gz")
	fs.StringVar(&c.SubPath, "context-sub-path", "", "directory inside the context to build from")
	fs.StringVar(&c.Git, "git", "", "git context options: branch=NAME,single-branch=BOOL,recurse-submodules=BOOL,insecure-skip-tls=BOOL")
	fs.StringVarP(&c.Dockerfile, "dockerfile", "f", "Dockerfile", "path to the Dockerfile, relative paths tried as given, then in the context")
}

// Load fetches the context into tmp where it must (tar, git, URL) and
// opens it, and reads the Dockerfile. It returns the Dockerfile's path
// and text.
func Load(ctx context.Context, o Options, tmp string) (_ *Context, dockerfile string, text []byte, _ error) {
	git, err := ParseGitOptions(o.Git)
	if err != nil {
		return nil, "", nil, err
	}
	src := o.Source
	if src == "" {
		src = "."
	}
	dir, err := Fetch(ctx, src, FetchOptions{TempDir: tmp, Git: git, Stdin: o.Stdin, GitPullMethod: o.GitPullMethod, GitAuth: o.GitAuth, Cloud: o.Cloud})
	if err != nil {
		return nil, "", nil, err
	}
	if dir, err = SubPath(dir, o.SubPath); err != nil {
		return nil, "", nil, err
	}
	df := o.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	switch {
	case strings.HasPrefix(df, "https://") || strings.HasPrefix(df, "http://"):
		// As Kaniko: a Dockerfile given by URL is downloaded.
		if df, err = downloadDockerfile(ctx, df, tmp); err != nil {
			return nil, "", nil, fmt.Errorf("--dockerfile: %w", err)
		}
	case !filepath.IsAbs(df) && !exists(df):
		// As Kaniko: a relative path is tried as given, then in the context.
		df = filepath.Join(dir, df)
	}
	if text, err = os.ReadFile(df); err != nil {
		return nil, "", nil, fmt.Errorf("--dockerfile: %w", err)
	}
	c, err := Open(dir, df)
	if err != nil {
		return nil, "", nil, err
	}
	return c, df, text, nil
}

// downloadDockerfile fetches a Dockerfile given by URL into dir, named as
// the URL's last path element (errors name the file and line).
func downloadDockerfile(ctx context.Context, u, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	name := redactURL(u) // for errors: no password, no query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("downloading %s: bad URL", name)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the whole URL
		}
		return "", fmt.Errorf("downloading %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading %s: %s", name, resp.Status)
	}
	base := path.Base(req.URL.Path)
	if base == "/" || base == "." || base == "" {
		base = "Dockerfile"
	}
	sub, err := os.MkdirTemp(dir, "dockerfile-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(sub, base)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	// 16 MiB is far more than any Dockerfile.
	_, err = io.Copy(f, io.LimitReader(resp.Body, 16<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", name, err)
	}
	return p, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
