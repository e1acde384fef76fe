package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Uploader pushes blobs to a repository while the build goes on, and
// remembers which it pushed, so that the final push need only send the
// manifest.
//
// A layer of another repository (a base's, a cached one) goes through
// ggcr, which mounts it. The build's own layers and the config go up in
// two requests, POST and PUT with the whole blob (the registry API's
// monolithic upload, as containerd pushes), rather than ggcr's four
// (HEAD, POST, PATCH, PUT); above checkAbove bytes a HEAD comes first, in
// case the registry has the blob already.
type Uploader struct {
	o    Options
	ctx  context.Context
	repo name.Repository
	wg   sync.WaitGroup
	sem  chan struct{}
	// client is authenticated to push to repo: made once, on first use.
	client func() (*http.Client, error)

	mu   sync.Mutex
	have map[v1.Hash]bool // blobs in repo, uploaded or found there
}

// checkAbove is the size above which a blob is looked for before it is
// uploaded: below it, the upload costs no more than the look.
const checkAbove = 1 << 20

// NewUploader starts uploads to the repository of ref.
func (o Options) NewUploader(ctx context.Context, ref string) (*Uploader, error) {
	r, err := o.parse(ref, false)
	if err != nil {
		return nil, err
	}
	u := &Uploader{o: o, ctx: ctx, repo: r.Context(), sem: make(chan struct{}, 2), have: map[v1.Hash]bool{}}
	u.client = sync.OnceValues(func() (*http.Client, error) {
		base, err := o.transport(false)
		if err != nil {
			return nil, err
		}
		auth, err := authn.Resolve(ctx, o.keychain(), u.repo)
		if err != nil {
			return nil, err
		}
		var tr http.RoundTripper
		err = o.retry(ctx, func() (err error) {
			tr, err = transport.NewWithContext(ctx, u.repo.Registry, auth, base, []string{u.repo.Scope(transport.PushScope)})
			return err
		})
		if err != nil {
			return nil, err
		}
		return &http.Client{Transport: tr}, nil
	})
	go u.client() // its ping and token while the build starts
	return u, nil
}

// Add uploads l in the background. A failed upload is not an error here:
// the final push uploads whatever is missing.
func (u *Uploader) Add(l v1.Layer) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		u.sem <- struct{}{}
		defer func() { <-u.sem }()
		d, err := l.Digest()
		if err != nil {
			return
		}
		if _, other := l.(*remote.MountableLayer); !other {
			size, err := l.Size()
			if err == nil && u.put(d, size, l.Compressed) == nil {
				return
			}
		}
		opts, err := u.o.options(u.ctx, false)
		if err != nil {
			return
		}
		err = remote.WriteLayer(u.repo, l, opts...)
		if err == nil {
			u.record(d)
		} else if u.o.Logf != nil && u.ctx.Err() == nil {
			u.o.Logf("early upload of a layer failed, the final push will retry it: %v", err)
		}
	}()
}

// Wait waits for the uploads under way.
func (u *Uploader) Wait() { u.wg.Wait() }

func (u *Uploader) record(d v1.Hash) {
	u.mu.Lock()
	u.have[d] = true
	u.mu.Unlock()
}

// put uploads one blob, unless a HEAD finds it there first.
func (u *Uploader) put(d v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	c, err := u.client()
	if err != nil {
		return err
	}
	blobs := url.URL{Scheme: u.repo.Scheme(), Host: u.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/", u.repo.RepositoryStr())}
	err = u.o.retry(u.ctx, func() error {
		if size > checkAbove {
			resp, err := u.do(c, http.MethodHead, blobs.JoinPath(d.String()).String(), nil, 0, "", http.StatusOK, http.StatusNotFound)
			if err != nil {
				return err
			}
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		resp, err := u.do(c, http.MethodPost, blobs.JoinPath("uploads").String()+"/", nil, 0, "", http.StatusAccepted)
		if err != nil {
			return err
		}
		loc, err := resp.Location()
		if err != nil {
			return fmt.Errorf("starting an upload: %w", err)
		}
		q := loc.Query()
		q.Set("digest", d.String())
		loc.RawQuery = q.Encode()
		rc, err := open()
		if err != nil {
			return err
		}
		_, err = u.do(c, http.MethodPut, loc.String(), rc, size, "application/octet-stream", http.StatusCreated)
		return err
	})
	if err != nil {
		return fmt.Errorf("uploading %s to %s: %w", d, u.repo, err)
	}
	u.record(d)
	return nil
}

// do sends one request and checks that its status is one of codes;
// body, when not nil, is closed, and so is the response's.
func (u *Uploader) do(c *http.Client, method, target string, body io.ReadCloser, size int64, contentType string, codes ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(u.ctx, method, target, body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return resp, transport.CheckError(resp, codes...)
}

// PushAfter pushes img to refs: its config and manifest alone when u
// uploaded the rest to their repository, else the whole image. u may be
// nil.
func (o Options) PushAfter(ctx context.Context, u *Uploader, img v1.Image, refs []string) error {
	if u != nil && u.For(refs) && u.Push(img, refs) {
		return nil
	}
	if u != nil {
		u.Wait()
	}
	return o.Push(ctx, img, refs)
}

// For tells whether every ref is in the uploader's repository, where a
// push can be just the manifest.
func (u *Uploader) For(refs []string) bool {
	for _, ref := range refs {
		r, err := u.o.parse(ref, false)
		if err != nil || r.Context() != u.repo {
			return false
		}
	}
	return len(refs) > 0
}

// Push uploads img's config, waits for the uploads under way and, when
// they put every blob of img in the repository, puts its manifest under
// each ref (all in the repository: see For). It reports whether it did;
// when not, a full push is to follow, which reports what failed.
func (u *Uploader) Push(img v1.Image, refs []string) bool {
	err := u.push(img, refs)
	if err != nil && u.o.Logf != nil && u.ctx.Err() == nil {
		u.o.Logf("pushing the manifest alone failed, pushing the whole image: %v", err)
	}
	return err == nil
}

func (u *Uploader) push(img v1.Image, refs []string) error {
	raw, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cd, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfgErr := u.put(cd, int64(len(raw)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	u.Wait()
	if cfgErr != nil {
		return cfgErr
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	u.mu.Lock()
	for _, l := range layers {
		d, err := l.Digest()
		if err == nil && !u.have[d] {
			err = fmt.Errorf("layer %s was not uploaded", d)
		}
		if err != nil {
			u.mu.Unlock()
			return err
		}
	}
	u.mu.Unlock()
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	c, err := u.client()
	if err != nil {
		return err
	}
	for _, ref := range refs {
		r, err := u.o.parse(ref, false)
		if err != nil {
			return err
		}
		if err := u.putManifest(c, r, manifest, mt); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
	}
	return nil
}

func (u *Uploader) putManifest(c *http.Client, r name.Reference, manifest []byte, mt types.MediaType) error {
	target := url.URL{Scheme: u.repo.Scheme(), Host: u.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/manifests/%s", u.repo.RepositoryStr(), r.Identifier())}
	return u.o.retry(u.ctx, func() error {
		_, err := u.do(c, http.MethodPut, target.String(), io.NopCloser(bytes.NewReader(manifest)), int64(len(manifest)), string(mt), http.StatusCreated)
		return err
	})
}
