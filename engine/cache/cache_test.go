package cache

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestKeysAreLengthPrefixed(t *testing.T) {
	if Of("ab", "c") == Of("a", "bc") {
		t.Error(`Of("ab","c") == Of("a","bc"): parts are not length-prefixed`)
	}
	if Of("a-b") == Of("a", "b") {
		t.Error("a joined string collides with its parts")
	}
	parent := Of("base")
	if NewHasher(parent).Add("x").Sum() == NewHasher(Of("other")).Add("x").Sum() {
		t.Error("the parent key is not part of the chain")
	}
}

func TestLayoutStoreRoundTrip(t *testing.T) {
	l := &Layout{Path: t.TempDir(), TTL: time.Hour}
	ctx := context.Background()
	if _, ok, err := l.Get(ctx, "k1"); err != nil || ok {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	layer, err := random.Layer(1024, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "k1", Entry{Layer: layer, Labels: map[string]string{"files": "abc"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "k2", Entry{}); err != nil {
		t.Fatal(err)
	}
	e, ok, err := l.Get(ctx, "k1")
	if err != nil || !ok {
		t.Fatalf("k1: ok=%v err=%v", ok, err)
	}
	want, _ := layer.Digest()
	got, _ := e.Layer.Digest()
	if got != want || e.Labels["files"] != "abc" {
		t.Errorf("k1 = %s %v, want %s", got, e.Labels, want)
	}
	// The DiffID comes from the entry's config: right, and not by
	// decompressing the layer (which would cost a read of the blob).
	wantDiff, _ := layer.DiffID()
	if _, ok := e.Layer.(withDiffID); !ok {
		t.Errorf("layout layer %T would decompress itself for its DiffID", e.Layer)
	}
	if gotDiff, err := e.Layer.DiffID(); err != nil || gotDiff != wantDiff {
		t.Errorf("DiffID = %s, %v; want %s", gotDiff, err, wantDiff)
	}
	if e, ok, err := l.Get(ctx, "k2"); err != nil || !ok || e.Layer != nil {
		t.Errorf("k2 (no layer): %+v ok=%v err=%v", e, ok, err)
	}
	img, err := entryImage(Entry{Layer: layer}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Error(err)
	}
}

// An entry is used up to TTL after it was put, and not after. The stores'
// Now stands in for the clock.
func TestStoreTTL(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/cache")
	if err != nil {
		t.Fatal(err)
	}
	put := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := put
	fakeNow := func() time.Time { return clock }
	for kind, s := range map[string]Store{
		"layout":   &Layout{Path: t.TempDir(), TTL: time.Hour, Now: fakeNow},
		"registry": &Registry{Repo: repo, TTL: time.Hour, Now: fakeNow},
	} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			clock = put
			if err := s.Put(ctx, "k", Entry{Labels: map[string]string{"files": "abc"}}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				age time.Duration
				ok  bool
			}{{0, true}, {time.Hour, true}, {time.Hour + time.Second, false}} {
				clock = put.Add(tc.age)
				if _, ok, err := s.Get(ctx, "k"); err != nil || ok != tc.ok {
					t.Errorf("entry %s old: ok=%v err=%v, want ok=%v", tc.age, ok, err, tc.ok)
				}
			}
		})
	}
}
