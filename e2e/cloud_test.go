//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/kaniko-build/kaniko-build/e2e/azurite"
)

// contextTarGz is a build context as a .tar.gz: a Dockerfile FROM base
// that copies one file and runs one command.
func contextTarGz(t *testing.T, base, marker string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{
		"Dockerfile": "FROM " + base + "\nCOPY marker.txt /marker.txt\nRUN cp /marker.txt /ran.txt\n",
		"marker.txt": marker,
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// The executor image builds from s3://, gs:// and Azure Blob contexts
// served by the providers' emulators on 127.0.0.1 (gofakes3,
// fake-gcs-server, Azurite), with the environment a Kaniko user sets; a
// missing object fails naming the URL, and no secret is printed.
func TestImageCloudContexts(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	busybox := h.bases["busybox"]

	backend := s3mem.New()
	if err := backend.CreateBucket("ctx"); err != nil {
		t.Fatal(err)
	}
	s3tgz := contextTarGz(t, busybox, "from s3\n")
	if _, err := backend.PutObject("ctx", "app/context.tar.gz", map[string]string{}, bytes.NewReader(s3tgz), int64(len(s3tgz)), nil); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	defer s3.Close()
	s3env := []string{"S3_ENDPOINT=" + s3.URL, "S3_FORCE_PATH_STYLE=true", "AWS_ACCESS_KEY_ID=AKIDE2E",
		"AWS_SECRET_ACCESS_KEY=e2e-secret-s3", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}

	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		InitialObjects: []fakestorage.Object{{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ctx", Name: "app/context.tar.gz"},
			Content:     contextTarGz(t, busybox, "from gcs\n"),
		}},
		Scheme: "http", Host: "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Stop()
	gcsEnv := []string{"STORAGE_EMULATOR_HOST=" + strings.TrimPrefix(gcs.URL(), "http://")}

	az, err := azurite.Start(t.TempDir(), "e2eaccount")
	if err != nil {
		t.Fatal(err)
	}
	defer az.Close()
	if err := az.Upload(ctx, "ctx", "app/context.tar.gz", contextTarGz(t, busybox, "from azure\n")); err != nil {
		t.Fatal(err)
	}
	azKey, azEndpoint := az.Key, az.Endpoint
	azEnv := []string{"AZURE_STORAGE_ACCESS_KEY=" + azKey, "AZURE_STORAGE_BLOB_ENDPOINT=" + azEndpoint}

	for _, tc := range []struct {
		name, context string
		env           []string
		want          string // marker.txt's content; "" for a failure
	}{
		{"s3", "s3://ctx/app/context.tar.gz", s3env, "from s3\n"},
		{"s3-missing", "s3://ctx/app/missing.tar.gz", s3env, ""},
		{"gcs", "gs://ctx/app/context.tar.gz", gcsEnv, "from gcs\n"},
		{"gcs-missing", "gs://ctx/app/missing.tar.gz", gcsEnv, ""},
		{"azure", azEndpoint + "/ctx/app/context.tar.gz", azEnv, "from azure\n"},
		{"azure-missing", azEndpoint + "/ctx/app/missing.tar.gz", azEnv, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := h.reg.Host + "/image-cloud/" + tc.name + ":latest"
			out, err := h.runContainer(ctx, &container{args: []string{"--context", tc.context, "--destination", ref}, env: tc.env})
			if o := executorOutput(out); strings.Contains(o, "e2e-secret-s3") || strings.Contains(o, azKey) {
				t.Errorf("the secret is in the output:\n%s", tail(out, 3000))
			}
			if tc.want == "" {
				if err == nil || !strings.Contains(out, tc.context) {
					t.Fatalf("exit %v, want a failure naming %s:\n%s", err, tc.context, tail(out, 3000))
				}
				return
			}
			if err != nil {
				t.Fatalf("executor: %v\n%s", err, tail(out, 4000))
			}
			checkFiles(t, ref, map[string]string{"/marker.txt": tc.want, "/ran.txt": tc.want})
		})
	}
}
