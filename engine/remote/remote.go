// Package remote talks to registries: pulls (through mirrors), push
// permission checks and pushes, with credentials, per-registry TLS, plain
// HTTP where asked, and retries of every request.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options says how to reach registries.
type Options struct {
	Insecure           bool // push over plain HTTP
	InsecurePull       bool // pull over plain HTTP
	InsecureRegistries []string
	TLS                TLSOptions
	// Mirrors are tried, in order, before Docker Hub for its images.
	Mirrors []string
	// RegistryMap maps a registry to mirrors tried before it.
	RegistryMap map[string][]string
	// MirrorsOnly never falls back to a registry that has mirrors.
	MirrorsOnly bool
	// Retries is how many times a failed request is tried again; 0 means
	// as often as DefaultRetryBudget allows.
	Retries  int
	Platform v1.Platform
	// Keychain finds credentials; nil means Keychain(DockerConfig).
	Keychain authn.Keychain
	// DockerConfig is the directory holding config.json; empty means
	// $DOCKER_CONFIG, else ~/.docker.
	DockerConfig string
	// Images, when set, is looked up before any registry.
	Images *ImageCache
	// Logf reports fallbacks (a mirror that failed); nil is silent.
	Logf func(format string, args ...any)
	// Progress is told every progressEvery how far a long push is, in
	// bytes; nil is silent.
	Progress func(done, total int64)

	// shared, set by Shared, is what the calls of one build reuse.
	shared *shared
}

// shared holds, per direction (pull or push), one transport and one
// puller, and the pusher: kept connections and registry tokens, and the
// blobs already pushed, which a later push then neither uploads nor checks.
type shared struct {
	mu     sync.Mutex
	tr     [2]http.RoundTripper
	puller [2]*remote.Puller
	pusher *remote.Pusher
}

// Shared returns o, and copies of it made later, sharing connections,
// registry tokens and the record of pushed blobs between all their calls.
// Without it each call starts afresh: new connections, a new /v2/ ping and
// token, a HEAD for every blob.
func (o Options) Shared() Options {
	o.shared = &shared{}
	return o
}

func dir(pull bool) int {
	if pull {
		return 1
	}
	return 0
}

// transport is the TLS transport for pulls or pushes.
func (o Options) transport(pull bool) (http.RoundTripper, error) {
	s := o.shared
	if s == nil {
		return o.newTransport(pull)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tr := s.tr[dir(pull)]; tr != nil {
		return tr, nil
	}
	tr, err := o.newTransport(pull)
	if err != nil {
		return nil, err
	}
	s.tr[dir(pull)] = tr
	return tr, nil
}

func (o Options) newTransport(pull bool) (http.RoundTripper, error) {
	tr, err := o.TLS.transport(pull)
	if err != nil {
		return nil, err
	}
	return retryTransport{inner: tr, o: o}, nil
}

func (o Options) keychain() authn.Keychain {
	if o.Keychain != nil {
		return o.Keychain
	}
	return Keychain(o.DockerConfig)
}

func (o Options) insecure(registry string, pull bool) bool {
	if (pull && o.InsecurePull) || (!pull && o.Insecure) {
		return true
	}
	for _, r := range o.InsecureRegistries {
		if r == registry {
			return true
		}
	}
	return false
}

func (o Options) parse(ref string, pull bool) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if o.insecure(r.Context().RegistryStr(), pull) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

func (o Options) options(ctx context.Context, pull bool) ([]remote.Option, error) {
	tr, err := o.transport(pull)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithTransport(tr),
		remote.WithPlatform(o.Platform),
		// One try each: retry (retry.go) is the only retry layer.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
	}
	s := o.shared
	if s == nil {
		return opts, nil
	}
	// The puller and pusher keep the options they are made with, but for
	// the context and platform, which each call passes.
	s.mu.Lock()
	defer s.mu.Unlock()
	d := dir(pull)
	if s.puller[d] == nil {
		if s.puller[d], err = remote.NewPuller(opts...); err != nil {
			return nil, err
		}
	}
	if !pull && s.pusher == nil {
		if s.pusher, err = remote.NewPusher(opts...); err != nil {
			return nil, err
		}
	}
	opts = append(opts, remote.Reuse(s.puller[d]))
	if !pull {
		opts = append(opts, remote.Reuse(s.pusher))
	}
	// Callers append per-call options, some at once from goroutines:
	// no spare capacity for them to share.
	return slices.Clip(opts), nil
}

// candidates lists where to pull ref from: its mirrors, then itself.
func (o Options) candidates(ref string) ([]string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	reg := r.Context().RegistryStr()
	mirrors := o.RegistryMap[reg]
	if reg == name.DefaultRegistry {
		mirrors = append(append([]string{}, mirrors...), o.Mirrors...)
		mirrors = append(mirrors, o.RegistryMap["docker.io"]...)
	}
	var out []string
	for _, m := range mirrors {
		m = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "https://"), "http://"), "/")
		repo := r.Context().RepositoryStr()
		switch t := r.(type) {
		case name.Digest:
			out = append(out, m+"/"+repo+"@"+t.DigestStr())
		case name.Tag:
			out = append(out, m+"/"+repo+":"+t.TagStr())
		}
	}
	if o.MirrorsOnly && len(out) > 0 {
		return out, nil
	}
	return append(out, r.Name()), nil
}

// Pull fetches the image ref names for the platform, trying mirrors first.
func (o Options) Pull(ctx context.Context, ref string) (v1.Image, error) {
	if o.Images != nil {
		if img, err := o.Images.Get(ref, o.Platform); err != nil {
			return nil, fmt.Errorf("reading the image cache: %w", err)
		} else if img != nil {
			return img, nil
		}
	}
	cands, err := o.candidates(ref)
	if err != nil {
		return nil, err
	}
	opts, err := o.options(ctx, true)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, c := range cands {
		r, err := o.parse(c, true)
		if err != nil {
			return nil, fmt.Errorf("parsing image reference %q: %w", c, err)
		}
		var img v1.Image
		err = o.retry(ctx, func() (err error) {
			if img, err = remote.Image(r, opts...); err != nil {
				return err
			}
			// Read now, under retry: later reads come from memory.
			_, err = img.RawConfigFile()
			return err
		})
		if err == nil {
			return img, nil
		}
		errs = append(errs, err)
		if c != cands[len(cands)-1] {
			o.logf("pulling %s from mirror %s failed, trying the next: %v", ref, c, err)
		}
	}
	return nil, fmt.Errorf("pulling %s: %w", ref, errors.Join(errs...))
}

// CheckPush fails fast when a destination cannot be pushed to: at the
// build's start, not after it. Transient failures are retried.
func (o Options) CheckPush(ctx context.Context, refs []string) error {
	tr, err := o.transport(false)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		r, err := o.parse(ref, false)
		if err != nil {
			return fmt.Errorf("--destination %q: %w", ref, err)
		}
		if err := o.retry(ctx, func() error {
			return remote.CheckPushPermission(r, o.keychain(), tr)
		}); err != nil {
			return fmt.Errorf("checking push access to %s: %w", ref, err)
		}
	}
	return nil
}

// Manifest is what Push pushes: a v1.Image or a v1.ImageIndex.
type Manifest interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}

// Push pushes img, an image or an index, to every ref, uploading shared
// blobs once.
func (o Options) Push(ctx context.Context, img Manifest, refs []string) error {
	todo := map[name.Reference]remote.Taggable{}
	for _, ref := range refs {
		r, err := o.parse(ref, false)
		if err != nil {
			return fmt.Errorf("--destination %q: %w", ref, err)
		}
		todo[r] = img
	}
	opts, err := o.options(ctx, false)
	if err != nil {
		return err
	}
	if err := o.retry(ctx, func() error {
		updates, stop, done := make(chan v1.Update, 16), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			o.reportPush(updates, stop)
		}()
		err := remote.MultiWrite(todo, append(opts, remote.WithProgress(updates))...)
		close(stop) // MultiWrite sends nothing more once it returns
		<-done
		if err != nil && !IsImmutableTag(err) && o.hold(ctx, img, todo, opts) {
			o.logf("%s: the push landed, its answer did not (%v)", strings.Join(refs, ", "), err)
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("pushing: %w", err)
	}
	return nil
}

// hold tells whether every ref of todo holds img's manifest.
func (o Options) hold(ctx context.Context, img Manifest, todo map[name.Reference]remote.Taggable, opts []remote.Option) bool {
	want, err := img.Digest()
	if err != nil || ctx.Err() != nil {
		return false
	}
	for r := range todo {
		d, err := remote.Head(r, opts...)
		if err != nil || d.Digest != want {
			return false
		}
	}
	return true
}

// logf is Logf, when set.
func (o Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// progressEvery is how often a long push reports its progress.
const progressEvery = 5 * time.Second

// reportPush passes ggcr's updates on to Progress every progressEvery,
// until stop closes.
func (o Options) reportPush(updates <-chan v1.Update, stop <-chan struct{}) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	var last v1.Update
	for {
		select {
		case <-stop:
			return
		case u, ok := <-updates:
			if !ok {
				updates = nil // closed: wait for stop
				continue
			}
			last = u
		case <-t.C:
			if o.Progress != nil && last.Total > 0 {
				o.Progress(last.Complete, last.Total)
			}
		}
	}
}

// RemoteOptions are the options of every request, for other packages
// that talk to registries (the cache).
func (o Options) RemoteOptions(ctx context.Context, pull bool) ([]remote.Option, error) {
	return o.options(ctx, pull)
}

// ParseRepo parses a repository name as a push would.
func (o Options) ParseRepo(repo string) (name.Repository, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return name.Repository{}, err
	}
	if o.insecure(r.RegistryStr(), false) {
		return name.NewRepository(repo, name.Insecure)
	}
	return r, nil
}

// Parse parses a destination reference as a push would.
func (o Options) Parse(ref string) (name.Reference, error) { return o.parse(ref, false) }

// immutableTag are the texts registries answer a push to an immutable tag
// with: Amazon ECR, Google Artifact Registry, Harbor (two wordings).
var immutableTag = []string{
	"cannot be overwritten because the repository is immutable",
	"the repository has enabled tag immutability",
	"configured as immutable",
	"is a immutable tag",
}

// IsImmutableTag reports whether err is a registry's refusal to move an
// immutable tag.
func IsImmutableTag(err error) bool {
	if err == nil {
		return false
	}
	s := strings.ToLower(err.Error())
	for _, t := range immutableTag {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}
