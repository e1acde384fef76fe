package buildctx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kaniko-build/kaniko-build/engine/remote"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"
)

// gcsReadScope is the OAuth scope a gs:// context is read with.
const gcsReadScope = "https://www.googleapis.com/auth/devstorage.read_only"

// fetchGCS downloads gs://bucket/path.tar.gz through Cloud Storage's JSON
// API with Google's application default credentials (golang.org/x/oauth2/google:
// GOOGLE_APPLICATION_CREDENTIALS, gcloud's, workload identity, the
// metadata server) or, when STORAGE_EMULATOR_HOST is set, from that
// emulator without credentials, as Google's storage SDK does; and unpacks
// it. (cloud.google.com/go/storage would add its gRPC transport, some
// 36 MB, to the executor.)
func fetchGCS(ctx context.Context, src string, opt FetchOptions) (string, error) {
	bucket, object, err := bucketObject(src, "gs://")
	if err != nil {
		return "", err
	}
	endpoint, base := "https://storage.googleapis.com", http.DefaultTransport
	if host := opt.Cloud.StorageEmulatorHost; host != "" {
		endpoint = "http://" + host
		if strings.Contains(host, "://") {
			endpoint = host
		}
	} else {
		creds, err := google.FindDefaultCredentials(ctx, gcsReadScope)
		if err != nil {
			return "", fmt.Errorf("fetching context %s: finding Google credentials: %w", src, err)
		}
		if ud, err := creds.GetUniverseDomain(); err == nil && ud != "" && ud != "googleapis.com" {
			endpoint = "https://storage." + ud
		}
		base = &oauth2.Transport{Source: creds.TokenSource, Base: base}
	}
	client := &http.Client{Transport: gcsRetrying(base)}
	u := strings.TrimSuffix(endpoint, "/") + "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(object) + "?alt=media"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("fetching context %s: %w", src, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching context %s: %w", src, gcsTransportCause(err))
	}
	defer resp.Body.Close()
	if err := googleapi.CheckResponse(resp); err != nil {
		return "", fmt.Errorf("fetching context %s: %w", src, gcsCause(err))
	}
	return unpackTo(resp.Body, opt.TempDir, src)
}

// gcsRetrying retries what a registry request would be retried for
// (remote.Retryable: 408, 429, 5xx, dropped connections, timeouts) with
// exponential backoff and jitter, as Google advises; a GET is safe to
// repeat. A token Google refused is not retried.
func gcsRetrying(base http.RoundTripper) http.RoundTripper {
	return transport.NewRetry(base,
		transport.WithRetryBackoff(transport.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 5}),
		transport.WithRetryPredicate(remote.Retryable),
		transport.WithRetryStatusCodes(remote.TransientStatuses()...))
}

// gcsTransportCause says a token refused as such.
func gcsTransportCause(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("getting a Google access token (check the Google credentials): %w", err)
	}
	return err
}

// gcsCause is Cloud Storage's refusal in a line.
func gcsCause(err error) error {
	var api *googleapi.Error
	if !errors.As(err, &api) {
		return err
	}
	e := &serviceError{status: api.Code, message: api.Message, err: err}
	if len(api.Errors) > 0 {
		e.code = api.Errors[0].Reason
	}
	if e.message == "" && e.code == "" {
		e.message = http.StatusText(api.Code)
	}
	if api.Code == http.StatusUnauthorized || api.Code == http.StatusForbidden {
		e.hint = "check the Google credentials: GOOGLE_APPLICATION_CREDENTIALS or the workload's service account"
	}
	return e
}
