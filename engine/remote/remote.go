// Package remote talks to registries: pull, push-permission checks and
// pushes, with credentials, plain-HTTP registries and retries.
package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options says how to reach registries.
type Options struct {
	Insecure           bool // push over plain HTTP
	InsecurePull       bool // pull over plain HTTP
	InsecureRegistries []string
	SkipTLSVerify      bool
	SkipTLSVerifyPull  bool
	// Retries is how many times a failed request is tried again; 0 means
	// the default of 5.
	Retries  int
	Platform v1.Platform
	Keychain authn.Keychain
}

func (o Options) keychain() authn.Keychain {
	if o.Keychain != nil {
		return o.Keychain
	}
	return authn.DefaultKeychain
}

func (o Options) parse(ref string, pull bool) (name.Reference, error) {
	var opts []name.Option
	insecure := o.Insecure
	if pull {
		insecure = o.InsecurePull
	}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, err
	}
	for _, reg := range o.InsecureRegistries {
		if r.Context().RegistryStr() == reg {
			return name.ParseReference(ref, append(opts, name.Insecure)...)
		}
	}
	return r, nil
}

func (o Options) transport(pull bool) http.RoundTripper {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	if (pull && o.SkipTLSVerifyPull) || (!pull && o.SkipTLSVerify) {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by flag
	}
	return tr
}

func (o Options) retries() int {
	if o.Retries <= 0 {
		return 5
	}
	return o.Retries
}

// retry runs fn until it succeeds, fails for a reason retrying cannot
// fix (authentication, a missing repository), or runs out of tries.
func (o Options) retry(ctx context.Context, fn func() error) error {
	delay := 500 * time.Millisecond
	var err error
	for i := 0; i <= o.retries(); i++ {
		if err = fn(); err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
	return err
}

func transient(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return true // dropped connections and other I/O errors
}

func (o Options) options(ctx context.Context, pull bool) []remote.Option {
	retries := o.retries()
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithTransport(o.transport(pull)),
		remote.WithPlatform(o.Platform),
		remote.WithRetryBackoff(remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: retries + 1}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
}

// Pull fetches the image ref names for the platform.
func (o Options) Pull(ctx context.Context, ref string) (v1.Image, error) {
	r, err := o.parse(ref, true)
	if err != nil {
		return nil, fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	img, err := remote.Image(r, o.options(ctx, true)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	return img, nil
}

// CheckPush fails fast when a destination cannot be pushed to.
func (o Options) CheckPush(ctx context.Context, refs []string) error {
	for _, ref := range refs {
		r, err := o.parse(ref, false)
		if err != nil {
			return fmt.Errorf("--destination %q: %w", ref, err)
		}
		if err := o.retry(ctx, func() error {
			return remote.CheckPushPermission(r, o.keychain(), o.transport(false))
		}); err != nil {
			return fmt.Errorf("checking push access to %s: %w", ref, err)
		}
	}
	return nil
}

// Push pushes img to every ref, uploading shared blobs once, and returns
// the references as given.
func (o Options) Push(ctx context.Context, img v1.Image, refs []string) error {
	todo := map[name.Reference]remote.Taggable{}
	for _, ref := range refs {
		r, err := o.parse(ref, false)
		if err != nil {
			return fmt.Errorf("--destination %q: %w", ref, err)
		}
		todo[r] = img
	}
	if err := remote.MultiWrite(todo, o.options(ctx, false)...); err != nil {
		return fmt.Errorf("pushing: %w", err)
	}
	return nil
}

// Parse parses a destination reference as a push would.
func (o Options) Parse(ref string) (name.Reference, error) { return o.parse(ref, false) }
