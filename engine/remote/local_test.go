package remote

import (
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// Lookup tells which image the cache holds for a reference and platform,
// and when Put stored it.
func TestImageCacheRecordsWhenStored(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	c := &ImageCache{Path: t.TempDir(), Now: func() time.Time { return at }}
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	if e, err := c.Lookup("reg.local/a:1", amd64); e != nil || err != nil {
		t.Fatalf("empty cache: %+v, %v", e, err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("reg.local/a:1", amd64, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	e, err := c.Lookup("reg.local/a:1", amd64)
	if err != nil || e == nil || e.Digest != d || !e.Stored.Equal(at) {
		t.Fatalf("got %+v, %v; want %s stored at %s", e, err, d, at)
	}
	if e, _ := c.Lookup("reg.local/a:1", v1.Platform{OS: "linux", Architecture: "arm64"}); e != nil {
		t.Errorf("another platform: %+v", e)
	}
	at = at.Add(time.Hour)
	if err := c.Replace("reg.local/a:1", amd64, img); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Lookup("reg.local/a:1", amd64); e == nil || !e.Stored.Equal(at) {
		t.Errorf("replaced: %+v, want stored at %s", e, at)
	}
	if got, err := c.Get("reg.local/a:1", amd64); err != nil || got == nil {
		t.Errorf("Get: %v, %v", got, err)
	}
}

// With a TTL, Get misses an image stored longer ago, as Kaniko's executor
// does with --cache-ttl.
func TestImageCacheGetHonoursTTL(t *testing.T) {
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &ImageCache{Path: t.TempDir(), Now: func() time.Time { return now }, TTL: time.Hour}
	p := v1.Platform{OS: "linux", Architecture: "amd64"}
	if err := c.Put("example.com/app:1", p, img); err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Minute)
	if got, err := c.Get("example.com/app:1", p); err != nil || got == nil {
		t.Fatalf("within the TTL: %v, %v", got, err)
	}
	now = now.Add(2 * time.Minute)
	if got, err := c.Get("example.com/app:1", p); err != nil || got != nil {
		t.Fatalf("past the TTL: %v, %v; want a miss", got, err)
	}
	c.TTL = 0
	if got, err := c.Get("example.com/app:1", p); err != nil || got == nil {
		t.Fatalf("without a TTL: %v, %v", got, err)
	}
}
