package buildctx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
)

// GitOptions are the --git flag's settings.
type GitOptions struct {
	Branch            string
	SingleBranch      bool
	RecurseSubmodules bool
	InsecureSkipTLS   bool
}

// ParseGitOptions parses "branch=main,single-branch=true,...".
func ParseGitOptions(s string) (GitOptions, error) {
	var g GitOptions
	if s == "" {
		return g, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "branch":
			g.Branch = v
		case "single-branch", "recurse-submodules", "insecure-skip-tls":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return g, fmt.Errorf("--git %s: %q is not true or false", k, v)
			}
			switch k {
			case "single-branch":
				g.SingleBranch = b
			case "recurse-submodules":
				g.RecurseSubmodules = b
			default:
				g.InsecureSkipTLS = b
			}
		default:
			return g, fmt.Errorf("--git: unknown option %q (want branch, single-branch, recurse-submodules, insecure-skip-tls)", k)
		}
	}
	return g, nil
}

// FetchOptions tunes Fetch.
type FetchOptions struct {
	// TempDir receives unpacked and cloned contexts.
	TempDir string
	Git     GitOptions
	// Stdin is read for tar://stdin.
	Stdin io.Reader
	// GitPullMethod is https (default) or http: git:// URLs are cloned over
	// it, as Kaniko does (its GIT_PULL_METHOD).
	GitPullMethod string
	// GitAuth is the git:// context's credentials (Options.GitAuth). When
	// it is empty, a git://user:password@host/... URL's are used.
	GitAuth GitAuth
	// Cloud holds the s3://, gs:// and Azure Blob contexts' settings
	// (Options.Cloud).
	Cloud CloudOptions
}

// Fetch makes the context src a local directory: a directory (path or
// dir://), a tar.gz (tar://path or tar://stdin), a git repository
// (git://host/repo.git[#ref[#commit]]), a tar.gz in a bucket
// (s3://bucket/path, gs://bucket/path, an Azure Blob URL) or a tar.gz
// over https. Another scheme:// is refused.
func Fetch(ctx context.Context, src string, opt FetchOptions) (string, error) {
	switch {
	case strings.HasPrefix(src, "s3://"):
		return fetchS3(ctx, src, opt)
	case strings.HasPrefix(src, "gs://"):
		return fetchGCS(ctx, src, opt)
	case strings.HasPrefix(src, "tar://"):
		p := strings.TrimPrefix(src, "tar://")
		var r io.Reader
		if p == "stdin" {
			if opt.Stdin == nil {
				return "", fmt.Errorf("--context tar://stdin: no standard input")
			}
			r = opt.Stdin
		} else {
			f, err := os.Open(p)
			if err != nil {
				return "", fmt.Errorf("opening context %s: %w", src, err)
			}
			defer f.Close()
			r = f
		}
		return unpackTo(r, opt.TempDir, src)
	case strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://"):
		blob, isBlob := parseAzureBlob(src, opt.Cloud.AzureBlobEndpoint)
		if isBlob && opt.Cloud.AzureAccessKey != "" {
			return fetchAzureBlob(ctx, src, blob, opt)
		}
		name := redactURL(src)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return "", fmt.Errorf("fetching context %s: %w", name, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("fetching context %s: %w", name, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			if isBlob {
				return "", fmt.Errorf("fetching context %s: %s (an Azure Blob URL, fetched without a key: AZURE_STORAGE_ACCESS_KEY is not set)", name, resp.Status)
			}
			return "", fmt.Errorf("fetching context %s: %s", name, resp.Status)
		}
		return unpackTo(resp.Body, opt.TempDir, name)
	case strings.HasPrefix(src, "git://"):
		return clone(ctx, src, opt)
	case strings.HasPrefix(src, "dir://"):
		return strings.TrimPrefix(src, "dir://"), nil
	default:
		if scheme, ok := urlScheme(src); ok {
			return "", fmt.Errorf("fetching context %s: unknown scheme %s:// (want a directory, dir://, tar://, git://, s3://, gs://, https:// or http://)", src, scheme)
		}
		return src, nil
	}
}

// urlScheme is src's scheme when it starts as a URL does, scheme://.
func urlScheme(src string) (string, bool) {
	scheme, _, ok := strings.Cut(src, "://")
	if !ok || scheme == "" || !('a' <= scheme[0]|0x20 && scheme[0]|0x20 <= 'z') {
		return "", false
	}
	for _, c := range scheme {
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return "", false
		}
	}
	return scheme, true
}

// unpackTo extracts a tar, compressed or not, into a new directory.
func unpackTo(r io.Reader, tmp, name string) (string, error) {
	dir, err := os.MkdirTemp(tmp, "context-")
	if err != nil {
		return "", err
	}
	tr, err := filetree.Decompress(r)
	if err != nil {
		return "", fmt.Errorf("reading context %s: %w", name, err)
	}
	defer tr.Close()
	if err := filetree.Extract(dir, tr, filetree.ExtractOptions{NoChown: os.Geteuid() != 0}); err != nil {
		return "", fmt.Errorf("unpacking context %s: %w", name, err)
	}
	return dir, nil
}

// clone clones git://host/path[#ref[#commit]] over GitPullMethod. A
// URL's userinfo is taken off it and used as the credentials (unless
// GitAuth is set): it stays out of errors and of the clone's .git/config.
func clone(ctx context.Context, src string, opt FetchOptions) (string, error) {
	parts := strings.Split(strings.TrimPrefix(src, "git://"), "#")
	method := opt.GitPullMethod
	if method == "" {
		method = "https"
	}
	if method != "https" && method != "http" {
		return "", fmt.Errorf("git pull method %q: want https or http", method)
	}
	hostPath, urlAuth, _ := cutUserinfo(parts[0])
	url := method + "://" + hostPath
	creds := opt.GitAuth
	if creds.IsZero() {
		creds = urlAuth
	}
	dir, err := os.MkdirTemp(opt.TempDir, "context-git-")
	if err != nil {
		return "", err
	}
	co := &git.CloneOptions{URL: url, SingleBranch: opt.Git.SingleBranch, InsecureSkipTLS: opt.Git.InsecureSkipTLS}
	if a := newOriginAuth(url, creds); a != nil {
		// go-git passes it on to the submodules too.
		co.Auth = a
	}
	if opt.Git.RecurseSubmodules {
		co.RecurseSubmodules = git.DefaultSubmoduleRecursionDepth
	}
	ref := opt.Git.Branch
	if len(parts) > 1 && parts[1] != "" {
		ref = parts[1]
	}
	if ref != "" {
		if strings.HasPrefix(ref, "refs/") {
			co.ReferenceName = plumbing.ReferenceName(ref)
		} else {
			co.ReferenceName = plumbing.NewBranchReferenceName(ref)
		}
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, co)
	if err != nil && ref != "" && !strings.HasPrefix(ref, "refs/") && !isAuthError(err) {
		// Not a branch: try it as a tag.
		os.RemoveAll(dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", err
		}
		co.ReferenceName = plumbing.NewTagReferenceName(ref)
		repo, err = git.PlainCloneContext(ctx, dir, false, co)
	}
	switch {
	case err == nil:
	case isAuthError(err) && creds.IsZero():
		return "", fmt.Errorf("cloning %s: authentication failed, no credentials given (set GIT_USERNAME and GIT_PASSWORD, or GIT_TOKEN): %w", url, err)
	case isAuthError(err):
		return "", fmt.Errorf("cloning %s: authentication failed with the credentials given: %w", url, err)
	default:
		return "", fmt.Errorf("cloning %s: %w", url, err)
	}
	if len(parts) > 2 && parts[2] != "" {
		wt, err := repo.Worktree()
		if err != nil {
			return "", err
		}
		if err := wt.Checkout(&git.CheckoutOptions{Hash: plumbing.NewHash(parts[2])}); err != nil {
			return "", fmt.Errorf("checking out %s: %w", parts[2], err)
		}
	}
	return dir, nil
}

// isAuthError tells whether the server asked for credentials (401) or
// refused them (403).
func isAuthError(err error) bool {
	return errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)
}

// SubPath joins a --context-sub-path to a fetched context, staying inside it.
func SubPath(dir, sub string) (string, error) {
	if sub == "" {
		return dir, nil
	}
	p, err := filetree.Resolve(dir, sub, true)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("--context-sub-path %s: not a directory in the context", sub)
	}
	return filepath.Clean(p), nil
}
