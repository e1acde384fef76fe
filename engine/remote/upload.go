package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

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
	repo name.Repository
	wg   sync.WaitGroup
	sem  chan struct{}
	// client is authenticated to push to repo: made once, on first use.
	client func() (*http.Client, error)

	mu    sync.Mutex
	have  map[v1.Hash]bool // blobs in repo, uploaded or found there
	spare *url.URL         // an upload started by Check, for the next blob
	// chunked is set once an upload in one PUT failed: the rest go
	// through ggcr, in case the registry does not take them.
	chunked atomic.Bool
	// sent and total count the bytes of the blobs added, for Progress.
	sent, total atomic.Int64
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
	u := &Uploader{o: o, repo: r.Context(), sem: make(chan struct{}, 2), have: map[v1.Hash]bool{}}
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

// Add uploads l in the background, through ctx. A failed upload is not
// an error here: the final push uploads whatever is missing.
func (u *Uploader) Add(ctx context.Context, l v1.Layer) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		u.sem <- struct{}{}
		defer func() { <-u.sem }()
		d, err := l.Digest()
		if err != nil {
			return
		}
		if _, other := l.(*remote.MountableLayer); !other && !u.chunked.Load() {
			size, err := l.Size()
			if err != nil {
				return
			}
			u.total.Add(size)
			open := func() (io.ReadCloser, error) {
				rc, err := l.Compressed()
				return counted{rc, &u.sent}, err
			}
			if u.put(ctx, d, size, open) == nil {
				return
			}
		}
		opts, err := u.o.options(ctx, false)
		if err != nil {
			return
		}
		err = remote.WriteLayer(u.repo, l, opts...)
		if err == nil {
			u.record(d)
		} else if ctx.Err() == nil {
			u.o.logf("early upload of a layer failed, the final push will retry it: %v", err)
		}
	}()
}

// Wait waits for the uploads under way.
func (u *Uploader) Wait() { u.wg.Wait() }

// waitReporting waits for the uploads under way, telling Progress how far
// they are every progressEvery.
func (u *Uploader) waitReporting() {
	done := make(chan struct{})
	go func() {
		u.wg.Wait()
		close(done)
	}()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if u.o.Progress != nil {
				total := u.total.Load()
				u.o.Progress(min(u.sent.Load(), total), total)
			}
		}
	}
}

// counted counts the bytes read through it.
type counted struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c counted) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// url is the address of path in the repository's API.
func (u *Uploader) url(path string) url.URL {
	return url.URL{Scheme: u.repo.Scheme(), Host: u.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/%s", u.repo.RepositoryStr(), path)}
}

// record notes that the repository has blob d.
func (u *Uploader) record(d v1.Hash) {
	u.mu.Lock()
	u.have[d] = true
	u.mu.Unlock()
}

// put uploads one blob, unless a HEAD finds it there first.
func (u *Uploader) put(ctx context.Context, d v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	c, err := u.client()
	if err != nil {
		return err
	}
	blobs := u.url("blobs/")
	u.mu.Lock()
	loc := u.spare
	u.spare = nil
	u.mu.Unlock()
	if loc != nil {
		// The upload Check started: a failure there (it may have
		// expired) is followed by fresh tries.
		found, err := u.send(ctx, c, blobs, loc, d, size, open)
		if err == nil && found {
			u.keep(ctx, loc)
		}
		if err == nil {
			u.record(d)
			return nil
		}
	}
	err = u.o.retry(ctx, func() error {
		_, err := u.send(ctx, c, blobs, nil, d, size, open)
		return err
	})
	if err != nil {
		u.chunked.Store(true)
		return fmt.Errorf("uploading %s to %s: %w", d, u.repo, err)
	}
	u.record(d)
	return nil
}

// send uploads a blob to the upload at loc, or to a new one when loc is
// nil; found tells that a HEAD found it there first (loc is then unused).
func (u *Uploader) send(ctx context.Context, c *http.Client, blobs url.URL, loc *url.URL, d v1.Hash, size int64, open func() (io.ReadCloser, error)) (found bool, _ error) {
	if size > checkAbove {
		resp, err := u.do(ctx, c, http.MethodHead, blobs.JoinPath(d.String()).String(), nil, 0, "", http.StatusOK, http.StatusNotFound)
		if err != nil {
			return false, err
		}
		if resp.StatusCode == http.StatusOK {
			return true, nil
		}
	}
	if loc == nil {
		var err error
		if loc, err = u.start(ctx, c, blobs); err != nil {
			return false, err
		}
	}
	q := loc.Query()
	q.Set("digest", d.String())
	put := *loc
	put.RawQuery = q.Encode()
	rc, err := open()
	if err != nil {
		return false, err
	}
	_, err = u.do(ctx, c, http.MethodPut, put.String(), rc, size, "application/octet-stream", http.StatusCreated)
	return false, err
}

// start starts an upload and returns where it goes.
func (u *Uploader) start(ctx context.Context, c *http.Client, blobs url.URL) (*url.URL, error) {
	resp, err := u.do(ctx, c, http.MethodPost, blobs.JoinPath("uploads").String()+"/", nil, 0, "", http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("starting an upload: %w", err)
	}
	return loc, nil
}

// keep keeps an unused upload for the next blob.
func (u *Uploader) keep(ctx context.Context, loc *url.URL) {
	u.mu.Lock()
	if u.spare == nil {
		u.spare, loc = loc, nil
	}
	u.mu.Unlock()
	if loc != nil {
		u.cancel(ctx, loc)
	}
}

// cancel ends an unused upload, as far as the registry lets it.
func (u *Uploader) cancel(ctx context.Context, loc *url.URL) {
	// Also at the build's end, when its context is done.
	ctx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	if c, err := u.client(); err == nil {
		u.do(ctx, c, http.MethodDelete, loc.String(), nil, 0, "", http.StatusNoContent, http.StatusAccepted, http.StatusOK)
	}
}

// Check checks that the repository takes pushes, as ggcr's
// CheckPushPermission does, by starting an upload. The upload is kept
// for the first blob rather than cancelled: Close cancels it if it is
// still unused.
func (u *Uploader) Check(ctx context.Context) error {
	c, err := u.client()
	if err != nil {
		return err
	}
	blobs := u.url("blobs/")
	return u.o.retry(ctx, func() error {
		loc, err := u.start(ctx, c, blobs)
		if err == nil {
			u.keep(ctx, loc)
		}
		return err
	})
}

// Close waits for the uploads under way and cancels the one Check
// started, if no blob used it.
func (u *Uploader) Close() {
	u.Wait()
	u.mu.Lock()
	loc := u.spare
	u.spare = nil
	u.mu.Unlock()
	if loc != nil {
		u.cancel(context.Background(), loc)
	}
}

// do sends one request and checks that its status is one of codes;
// body, when not nil, is closed, and so is the response's.
func (u *Uploader) do(ctx context.Context, c *http.Client, method, target string, body io.ReadCloser, size int64, contentType string, codes ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
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
	if u != nil && u.For(refs) {
		err := u.push(ctx, img, refs)
		if err == nil || IsImmutableTag(err) { // a full push would be told the same
			return err
		}
		if ctx.Err() == nil {
			u.o.logf("pushing the manifest alone failed, pushing the whole image: %v", err)
		}
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

// push uploads img's config, waits for the uploads under way and, when
// they put every blob of img in the repository, puts its manifest under
// each ref (all in the repository: see For). When it fails, a full push
// is to follow, which reports what failed.
func (u *Uploader) push(ctx context.Context, img v1.Image, refs []string) error {
	if u.chunked.Load() {
		return errors.New("the registry did not take a blob in one request")
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cd, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfgErr := u.put(ctx, cd, int64(len(raw)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	u.waitReporting()
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
		if err := u.putManifest(ctx, c, r, manifest, mt); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
	}
	return nil
}

// putManifest puts manifest under r. When the registry's answer is lost
// or an error, the tag is looked at before trying again or giving up: a
// tag that holds the manifest is a push that landed.
func (u *Uploader) putManifest(ctx context.Context, c *http.Client, r name.Reference, manifest []byte, mt types.MediaType) error {
	target := u.url("manifests/" + r.Identifier())
	want, _, err := v1.SHA256(bytes.NewReader(manifest))
	if err != nil {
		return err
	}
	return u.o.retry(ctx, func() error {
		_, err := u.do(ctx, c, http.MethodPut, target.String(), io.NopCloser(bytes.NewReader(manifest)), int64(len(manifest)), string(mt), http.StatusCreated)
		if err != nil && !IsImmutableTag(err) && u.holds(ctx, c, target.String(), mt, want) {
			u.o.logf("%s holds %s: the push landed, its answer did not (%v)", r, want, err)
			return nil
		}
		return err
	})
}

// holds tells whether the manifest at target has digest want.
func (u *Uploader) holds(ctx context.Context, c *http.Client, target string, mt types.MediaType, want v1.Hash) bool {
	if ctx.Err() != nil {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, target, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", string(mt))
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && resp.Header.Get("Docker-Content-Digest") == want.String()
}
