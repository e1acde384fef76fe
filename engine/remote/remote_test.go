package remote

import (
	"context"
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

func (c *counter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// pushWithEarlyUploads pushes an image of three layers the way a build
// does: each layer uploaded as soon as it is made, then the image.
func pushWithEarlyUploads(t *testing.T, o Options, ref string) {
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
	u, err := o.NewUploader(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		u.Add(l)
	}
	u.Wait()
	if err := o.Push(ctx, img, []string{ref}); err != nil {
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

func TestSharedPushSkipsWhatItUploaded(t *testing.T) {
	c := &counter{n: map[string]int{}, h: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(c)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	o := Options{Insecure: true, Keychain: authn.NewMultiKeychain()}

	pushWithEarlyUploads(t, o, host+"/fresh/img:1")
	fresh := c.reset()
	pushWithEarlyUploads(t, o.Shared(), host+"/shared/img:1")
	shared := c.reset()
	pullBack(t, host+"/fresh/img:1")
	pullBack(t, host+"/shared/img:1")
	t.Logf("without Shared: %v", fresh)
	t.Logf("with Shared:    %v", shared)

	// Each call on its own pings the registry: three uploads, one push.
	if fresh["GET ping"] < 4 {
		t.Errorf("without Shared: %d pings, want one per call (4): %v", fresh["GET ping"], fresh)
	}
	// Shared: one ping for the whole push, and the final push does not
	// check again the layers it uploaded early.
	if shared["GET ping"] != 1 {
		t.Errorf("with Shared: %d pings, want 1: %v", shared["GET ping"], shared)
	}
	if shared["HEAD blob"] != fresh["HEAD blob"]-3 {
		t.Errorf("with Shared: %d blob HEADs, want the %d of a fresh push less the 3 uploaded layers: %v", shared["HEAD blob"], fresh["HEAD blob"], shared)
	}
}
