package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// WithConfigFields sets fields of the config's "config" object that
// go-containerregistry's types do not have (Healthcheck.StartInterval),
// keeping every other value as it is, numbers to the last digit (the
// keys are written sorted).
func WithConfigFields(img v1.Image, set func(config map[string]any)) (v1.Image, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // not float64: durations in ns can pass 2^53
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("editing config: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("editing config: data after the JSON object")
	}
	cfg, _ := doc["config"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
		doc["config"] = cfg
	}
	set(cfg)
	if raw, err = json.Marshal(doc); err != nil {
		return nil, fmt.Errorf("editing config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	h, n, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m.Config.Digest, m.Config.Size = h, n
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &rawConfigImage{Image: img, raw: raw, manifest: m, rawManifest: rawManifest}, nil
}

type rawConfigImage struct {
	v1.Image
	raw         []byte
	manifest    *v1.Manifest
	rawManifest []byte
}

func (i *rawConfigImage) RawConfigFile() ([]byte, error) { return i.raw, nil }

func (i *rawConfigImage) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.raw))
}

func (i *rawConfigImage) ConfigName() (v1.Hash, error) {
	return i.manifest.Config.Digest, nil
}

func (i *rawConfigImage) Manifest() (*v1.Manifest, error) { return i.manifest.DeepCopy(), nil }

func (i *rawConfigImage) RawManifest() ([]byte, error) { return i.rawManifest, nil }

func (i *rawConfigImage) Digest() (v1.Hash, error) { return partial.Digest(i) }

func (i *rawConfigImage) Size() (int64, error) { return int64(len(i.rawManifest)), nil }
