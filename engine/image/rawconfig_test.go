package image

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// decode reads raw JSON keeping numbers as they are written.
func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return m
}

// healthImage is a random image whose config has a healthcheck and the
// other fields a built image has.
func healthImage(t *testing.T, interval time.Duration) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	cf.Config.Env = []string{"PATH=/usr/bin", "A=<b>&c"}
	cf.Config.Labels = map[string]string{"org.example": "x"}
	cf.Config.Cmd = []string{"/app", "--flag"}
	cf.Config.StopSignal = "SIGTERM"
	cf.Config.Healthcheck = &v1.HealthConfig{
		Test:        []string{"CMD", "true"},
		Interval:    interval,
		Timeout:     3 * time.Second,
		StartPeriod: 10 * time.Second,
		Retries:     4,
	}
	cf.History = append(cf.History, v1.History{CreatedBy: "HEALTHCHECK", EmptyLayer: true})
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func setStartInterval(d time.Duration) func(map[string]any) {
	return func(c map[string]any) {
		if h, ok := c["Healthcheck"].(map[string]any); ok {
			h["StartInterval"] = int64(d)
		}
	}
}

func TestWithConfigFields(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		oci      bool
	}{
		{"docker", 30 * time.Second, false},
		{"oci", 30 * time.Second, true},
		// Over 2^53: a number read as a float64 would lose its last digit.
		{"big number", 1<<53 + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := healthImage(t, tc.interval)
			if tc.oci {
				img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
			}
			before, err := img.RawConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			beforeManifest, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			out, err := WithConfigFields(img, setStartInterval(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(out); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			raw, err := out.RawConfigFile()
			if err != nil {
				t.Fatal(err)
			}

			// The field is there, with its value.
			doc := decode(t, raw)
			hc := doc["config"].(map[string]any)["Healthcheck"].(map[string]any)
			if got := hc["StartInterval"]; got != json.Number("5000000000") {
				t.Errorf("StartInterval = %v, want 5000000000", got)
			}
			// Everything else is as it was, to the last digit.
			delete(hc, "StartInterval")
			if want := decode(t, before); !reflect.DeepEqual(want, doc) {
				t.Errorf("the rest of the config changed:\nbefore %s\nafter  %s", before, raw)
			}
			// The typed config, which has no StartInterval, reads the same.
			wantCF, _ := img.ConfigFile()
			gotCF, err := out.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(wantCF, gotCF) {
				t.Errorf("ConfigFile() changed:\nwant %+v\ngot  %+v", wantCF, gotCF)
			}

			// The manifest names the new config and nothing else changed.
			m, err := out.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if want := sha(raw); m.Config.Digest != want || m.Config.Size != int64(len(raw)) {
				t.Errorf("manifest config %s (%d bytes), want %s (%d)", m.Config.Digest, m.Config.Size, want, len(raw))
			}
			if name, _ := out.ConfigName(); name != m.Config.Digest {
				t.Errorf("ConfigName() = %s, manifest says %s", name, m.Config.Digest)
			}
			m.Config.Digest, m.Config.Size = beforeManifest.Config.Digest, beforeManifest.Config.Size
			if !reflect.DeepEqual(beforeManifest, m) {
				t.Errorf("the manifest changed beyond its config:\nbefore %+v\nafter  %+v", beforeManifest, m)
			}
			rawManifest, _ := out.RawManifest()
			if d, _ := out.Digest(); d != sha(rawManifest) {
				t.Errorf("Digest() = %s, SHA256(RawManifest()) = %s", d, sha(rawManifest))
			}
			if n, _ := out.Size(); n != int64(len(rawManifest)) {
				t.Errorf("Size() = %d, len(RawManifest()) = %d", n, len(rawManifest))
			}
			if mt, _ := out.MediaType(); mt != beforeManifest.MediaType {
				t.Errorf("MediaType() = %s, want %s", mt, beforeManifest.MediaType)
			}

			// Manifest() hands out copies.
			m.Layers = nil
			if again, _ := out.Manifest(); len(again.Layers) != 2 {
				t.Errorf("changing Manifest()'s result changed the image's: %d layers", len(again.Layers))
			}
			// The image it was made from is untouched.
			if after, _ := img.RawConfigFile(); !bytes.Equal(after, before) {
				t.Errorf("the original image's config changed")
			}
		})
	}
}

// Edits add up: a second edit keeps the first one's field.
func TestWithConfigFieldsTwice(t *testing.T) {
	img := healthImage(t, time.Second)
	out, err := WithConfigFields(img, setStartInterval(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	out, err = WithConfigFields(out, func(c map[string]any) { c["X-Vendor"] = []any{"a", 1} })
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(out); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	raw, _ := out.RawConfigFile()
	cfg := decode(t, raw)["config"].(map[string]any)
	if got := cfg["Healthcheck"].(map[string]any)["StartInterval"]; got != json.Number("2000000000") {
		t.Errorf("StartInterval = %v after a second edit, want 2000000000", got)
	}
	if got := cfg["X-Vendor"]; !reflect.DeepEqual(got, []any{"a", json.Number("1")}) {
		t.Errorf("X-Vendor = %v", got)
	}
}

// rawImage is an image with another raw config.
type rawImage struct {
	v1.Image
	raw []byte
}

func (i rawImage) RawConfigFile() ([]byte, error) { return i.raw, nil }

func TestWithConfigFieldsRaw(t *testing.T) {
	// No "config" object at all: one is made.
	img := rawImage{empty.Image, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)}
	out, err := WithConfigFields(img, func(c map[string]any) { c["User"] = "app" })
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(out); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	cf, err := out.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "app" || cf.Architecture != "amd64" || cf.OS != "linux" {
		t.Errorf("config = %+v, want User app on linux/amd64", cf)
	}

	// A config that is not one JSON object is an error, before set runs.
	for _, raw := range []string{`{"config":`, `{"config":{}} {"config":{}}`, `{"config":{}}]`, `[]`, ``} {
		called := false
		_, err = WithConfigFields(rawImage{empty.Image, []byte(raw)}, func(map[string]any) { called = true })
		if err == nil || !strings.Contains(err.Error(), "editing config") {
			t.Errorf("WithConfigFields on config %q: %v, want an editing config error", raw, err)
		}
		if called {
			t.Errorf("set was called on config %q", raw)
		}
	}
	// Space after the object is no more than space.
	if _, err := WithConfigFields(rawImage{empty.Image, []byte("{\"config\":{}}\n\t ")}, func(map[string]any) {}); err != nil {
		t.Errorf("WithConfigFields on a config ending in white space: %v", err)
	}

	// A value JSON cannot hold is an error.
	_, err = WithConfigFields(empty.Image, func(c map[string]any) { c["ch"] = make(chan int) })
	if err == nil || !strings.Contains(err.Error(), "editing config") {
		t.Errorf("WithConfigFields setting a channel: %v, want an editing config error", err)
	}
}
