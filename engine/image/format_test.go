package image

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestInFormat(t *testing.T) {
	img, err := random.Image(512, 2) // Docker media types
	if err != nil {
		t.Fatal(err)
	}
	oci, err := InFormat(img, OCI)
	if err != nil {
		t.Fatal(err)
	}
	oci = mutate.ConfigMediaType(mutate.MediaType(oci, types.OCIManifestSchema1), types.OCIConfigJSON)
	want, _ := img.Layers()
	got, err := oci.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range got {
		if mt, _ := l.MediaType(); mt != types.OCILayer {
			t.Errorf("layer %d: media type %s, want %s", i, mt, types.OCILayer)
		}
		d, _ := l.Digest()
		w, _ := want[i].Digest()
		if d != w {
			t.Errorf("layer %d: digest %s, want the same bytes as %s", i, d, w)
		}
		if err := validate.Layer(l); err != nil {
			t.Errorf("layer %d: %v", i, err)
		}
	}
	if same, err := InFormat(img, Docker); err != nil || same != img {
		t.Errorf("InFormat to the image's own format changed it (%v)", err)
	}
}

func TestTwin(t *testing.T) {
	for _, tc := range []struct {
		f      Format
		mt     types.MediaType
		want   types.MediaType
		retype bool
	}{
		{OCI, types.DockerLayer, types.OCILayer, true},
		{OCI, types.DockerUncompressedLayer, types.OCIUncompressedLayer, true},
		{OCI, types.DockerForeignLayer, types.OCIRestrictedLayer, true},
		{Docker, types.OCILayer, types.DockerLayer, true},
		{Docker, types.OCIUncompressedLayer, types.DockerUncompressedLayer, true},
		{Docker, types.OCIRestrictedLayer, types.DockerForeignLayer, true},
		// Already in the format.
		{OCI, types.OCILayer, types.OCILayer, false},
		{Docker, types.DockerLayer, types.DockerLayer, false},
		{Docker, types.DockerForeignLayer, types.DockerForeignLayer, false},
		// No twin: zstd is OCI's only, and unknown types stay.
		{Docker, types.OCILayerZStd, types.OCILayerZStd, false},
		{OCI, types.OCILayerZStd, types.OCILayerZStd, false},
		{OCI, types.OCIUncompressedRestrictedLayer, types.OCIUncompressedRestrictedLayer, false},
		{OCI, "application/x-custom", "application/x-custom", false},
	} {
		got, ok := twin(tc.f, tc.mt)
		if got != tc.want || ok != tc.retype {
			t.Errorf("twin(%s, %s) = %s, %v; want %s, %v", tc.f, tc.mt, got, ok, tc.want, tc.retype)
		}
	}
}

// asFormat is what stage.image does with InFormat's result: the manifest
// and config media types of the format.
func asFormat(img v1.Image, f Format) v1.Image {
	if f == OCI {
		return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.DockerManifestSchema2), types.DockerConfigJSON)
}

// A Docker image with a foreign layer goes to OCI and back: each layer
// gets its twin's media type and keeps its bytes, descriptor URLs and
// annotations; the config stays; both manifests validate.
func TestInFormatRoundTrip(t *testing.T) {
	base, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := random.Layer(256, types.DockerForeignLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       foreign,
		URLs:        []string{"https://example.com/layer.tar.gz"},
		Annotations: map[string]string{"org.example.layer": "foreign"},
		History:     v1.History{CreatedBy: "foreign"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"A=1"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the test image: %v", err)
	}
	orig, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	wantCF, _ := img.ConfigFile()

	check := func(img v1.Image, f Format, want map[types.MediaType]types.MediaType) {
		t.Helper()
		if err := validate.Image(img); err != nil {
			t.Fatalf("%s: validate.Image: %v", f, err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != len(orig.Layers) {
			t.Fatalf("%s: %d layers, want %d", f, len(m.Layers), len(orig.Layers))
		}
		for i, d := range m.Layers {
			o := orig.Layers[i]
			if d.MediaType != want[o.MediaType] {
				t.Errorf("%s: layer %d is %s, want %s", f, i, d.MediaType, want[o.MediaType])
			}
			if d.Digest != o.Digest || d.Size != o.Size {
				t.Errorf("%s: layer %d is %s (%d bytes), want the same bytes as %s (%d)", f, i, d.Digest, d.Size, o.Digest, o.Size)
			}
			if !reflect.DeepEqual(d.URLs, o.URLs) || !reflect.DeepEqual(d.Annotations, o.Annotations) {
				t.Errorf("%s: layer %d has URLs %v, annotations %v; want %v, %v", f, i, d.URLs, d.Annotations, o.URLs, o.Annotations)
			}
		}
		got, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, wantCF) {
			t.Errorf("%s: config %+v, want %+v", f, got, wantCF)
		}
	}

	oci, err := InFormat(img, OCI)
	if err != nil {
		t.Fatal(err)
	}
	oci = asFormat(oci, OCI)
	check(oci, OCI, map[types.MediaType]types.MediaType{
		types.DockerLayer:        types.OCILayer,
		types.DockerForeignLayer: types.OCIRestrictedLayer,
	})
	back, err := InFormat(oci, Docker)
	if err != nil {
		t.Fatal(err)
	}
	back = asFormat(back, Docker)
	check(back, Docker, map[types.MediaType]types.MediaType{
		types.DockerLayer:        types.DockerLayer,
		types.DockerForeignLayer: types.DockerForeignLayer,
	})
	// Back where it started: the same manifest, so the same digest.
	if got, want := digestOf(t, back), digestOf(t, img); got != want {
		m, _ := back.RawManifest()
		w, _ := img.RawManifest()
		t.Errorf("round trip gave %s, want %s\n got %s\nwant %s", got, want, m, w)
	}
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Layers without a twin are left alone: a zstd layer stays zstd in a
// Docker image, and an image with nothing to retype is returned as it is.
func TestInFormatNoTwin(t *testing.T) {
	l, err := WriteLayer(t.TempDir(), Zstd, 0, LayerMediaType(Docker, Zstd), writeChunks(testTar(t, 2, 100)))
	if err != nil {
		t.Fatal(err)
	}
	checkLayer(t, l)
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{Docker, OCI} {
		got, err := InFormat(img, f)
		if err != nil {
			t.Fatal(err)
		}
		if got != img {
			t.Errorf("InFormat(%s) of a zstd image made a new image", f)
		}
	}

	// Mixed: the gzip layer is retyped, the zstd one is not.
	g, err := WriteLayer(t.TempDir(), Gzip, 0, LayerMediaType(Docker, Gzip), writeChunks(testTar(t, 2, 100)))
	if err != nil {
		t.Fatal(err)
	}
	checkLayer(t, g)
	if img, err = mutate.Append(img, mutate.Addendum{Layer: g}); err != nil {
		t.Fatal(err)
	}
	oci, err := InFormat(img, OCI)
	if err != nil {
		t.Fatal(err)
	}
	oci = asFormat(oci, OCI)
	// validate.Image cannot read zstd: the layers are checked one by one.
	if err := validate.Image(oci, validate.Fast); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	layers, err := oci.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []types.MediaType{types.OCILayerZStd, types.OCILayer} {
		if mt, _ := layers[i].MediaType(); mt != want {
			t.Errorf("layer %d is %s, want %s", i, mt, want)
		}
		checkLayer(t, layers[i])
	}
}
