package image

import (
	"testing"

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
