package remote

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// counter counts a registry's requests by method and kind of path.
type counter struct {
	mu sync.Mutex
	n  map[string]int
	h  http.Handler
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := "other"
	switch {
	case r.URL.Path == "/v2/":
		kind = "ping"
	case strings.Contains(r.URL.Path, "/blobs/uploads"):
		kind = "upload"
	case strings.Contains(r.URL.Path, "/blobs/"):
		kind = "blob"
	case strings.Contains(r.URL.Path, "/manifests/"):
		kind = "manifest"
	}
	c.mu.Lock()
	c.n[r.Method+" "+kind]++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

// countedRegistry serves ggcr's registry, through wrap when not nil,
// counting its requests; host is its address.
func countedRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (c *counter, host string) {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	c = &counter{n: map[string]int{}, h: h}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, strings.TrimPrefix(srv.URL, "http://")
}

func (c *counter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// pushWithEarlyUploads pushes an image of three layers the way a build
// does: each layer uploaded as soon as it is made, then the image.
func pushWithEarlyUploads(t *testing.T, o Options, refs ...string) {
	t.Helper()
	ctx := context.Background()
	img, err := random.Image(512, 3)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Canonical(img)
	if err != nil {
		t.Fatal(err)
	}
	u, err := o.NewUploader(ctx, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Check(ctx); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		u.Add(ctx, l)
	}
	if err := o.PushAfter(ctx, u, img, refs); err != nil {
		t.Fatal(err)
	}
}

func pullBack(t *testing.T, ref string) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	back, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(back); err != nil {
		t.Fatal(err)
	}
}

func TestEarlyUploadsLeaveOnlyTheManifest(t *testing.T) {
	c, host := countedRegistry(t, nil)
	o := Options{Insecure: true, Keychain: authn.NewMultiKeychain()}.Shared()

	pushWithEarlyUploads(t, o, host+"/early/img:1", host+"/early/img:2")
	n := c.reset()
	pullBack(t, host+"/early/img:1")
	pullBack(t, host+"/early/img:2")
	t.Logf("requests: %v", n)
	// One ping; each blob (three layers, the config) one POST (the push
	// check's for the first) and one PUT with its content; one manifest
	// PUT per tag; nothing else.
	want := map[string]int{"GET ping": 1, "POST upload": 4, "PUT upload": 4, "PUT manifest": 2}
	if fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("requests: %v, want %v", n, want)
	}
}

// The push check's upload, unused, is cancelled at the end.
func TestCheckUploadCancelled(t *testing.T) {
	c, host := countedRegistry(t, nil)
	u, err := Options{Insecure: true, Keychain: authn.NewMultiKeychain()}.NewUploader(context.Background(), host+"/checked/img:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	u.Close()
	want := map[string]int{"GET ping": 1, "POST upload": 1, "DELETE upload": 1}
	if n := c.reset(); fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("requests: %v, want %v", n, want)
	}
}

// A blob above checkAbove is looked for first, and not uploaded again.
func TestEarlyUploadLooksForBigBlobs(t *testing.T) {
	c, host := countedRegistry(t, nil)
	o := Options{Insecure: true, Keychain: authn.NewMultiKeychain()}.Shared()
	l, err := random.Layer(2*checkAbove, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []map[string]int{
		{"GET ping": 1, "HEAD blob": 1, "POST upload": 1, "PUT upload": 1},
		{"GET ping": 1, "HEAD blob": 1}, // a new uploader: its own ping
	} {
		u, err := o.NewUploader(context.Background(), host+"/big/img:1")
		if err != nil {
			t.Fatal(err)
		}
		u.Add(context.Background(), l)
		u.Wait()
		if n := c.reset(); fmt.Sprint(n) != fmt.Sprint(want) {
			t.Errorf("upload %d: %v, want %v", i+1, n, want)
		}
	}
}

// noMonolithic rejects blob uploads in one PUT with the content, as a
// registry may: the uploader then goes through ggcr.
type noMonolithic struct{ h http.Handler }

func (m noMonolithic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads") && r.ContentLength > 0 {
		http.Error(w, `{"errors":[{"code":"UNSUPPORTED"}]}`, http.StatusBadRequest)
		return
	}
	m.h.ServeHTTP(w, r)
}

func TestEarlyUploadsFallBack(t *testing.T) {
	c, host := countedRegistry(t, func(h http.Handler) http.Handler { return noMonolithic{h} })
	o := Options{Insecure: true, Keychain: authn.NewMultiKeychain()}.Shared()

	// Refused monolithic uploads: ggcr's chunked ones instead.
	pushWithEarlyUploads(t, o, host+"/chunked/img:1")
	if n := c.reset(); n["PATCH upload"] != 4 {
		t.Errorf("%d PATCH uploads, want one per blob (4): %v", n["PATCH upload"], n)
	}
	pullBack(t, host+"/chunked/img:1")

	// A second repository: the whole image is pushed there.
	pushWithEarlyUploads(t, o, host+"/one/img:1", host+"/other/img:1")
	pullBack(t, host+"/one/img:1")
	pullBack(t, host+"/other/img:1")
}

// While the final push waits for a layer upload that takes long, it says
// how many of the bytes have gone.
func TestSlowUploadReportsProgress(t *testing.T) {
	release := make(chan struct{})
	_, host := countedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength > 1<<20 {
				<-release // the body stays unread: the sender stalls
			}
			h.ServeHTTP(w, r)
		})
	})
	progress := make(chan [2]int64, 16)
	o := Options{Insecure: true, Keychain: authn.NewMultiKeychain(),
		Progress: func(done, total int64) { progress <- [2]int64{done, total} }}.Shared()
	img, err := random.Image(16<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := host + "/slow/img:1"
	u, err := o.NewUploader(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	layers, _ := img.Layers()
	size, _ := layers[0].Size()
	u.Add(ctx, layers[0])
	pushed := make(chan error, 1)
	go func() { pushed <- o.PushAfter(ctx, u, img, []string{ref}) }()
	p := <-progress // after progressEvery, the upload still stalled
	close(release)
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	if p[1] != size || p[0] <= 0 || p[0] >= size {
		t.Errorf("progress %d of %d, want part of %d", p[0], p[1], size)
	}
}
