//go:build e2e && linux

package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestStartAndClose(t *testing.T) {
	ctx := context.Background()
	r, err := Start(ctx, Options{})
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	resp, err := http.Get(r.URL() + "/v2/")
	if err != nil {
		t.Fatalf("GET /v2/: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ = %s, want 200", resp.Status)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("closing registry: %v", err)
	}
	if _, err := http.Get(r.URL() + "/v2/"); err == nil {
		t.Fatalf("registry still answers after Close")
	}
}

func TestBasicAuth(t *testing.T) {
	ctx := context.Background()
	r, err := Start(ctx, Options{User: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	defer r.Close()
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{"alice", "wrong", http.StatusUnauthorized},
		{"alice", "s3cret", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, r.URL()+"/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /v2/ as %q: %v", tc.user, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /v2/ as %q/%q = %s, want %d", tc.user, tc.pass, resp.Status, tc.want)
		}
	}
}

func TestTLS(t *testing.T) {
	ctx := context.Background()
	r, err := Start(ctx, Options{TLS: true})
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	defer r.Close()
	if !strings.HasPrefix(r.URL(), "https://") || r.CAFile == "" {
		t.Fatalf("URL %s, CAFile %q: want https and a CA", r.URL(), r.CAFile)
	}
	// Not trusted by default: the CA is the registry's own.
	if resp, err := http.Get(r.URL() + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatalf("GET /v2/ with the system roots succeeded")
	}
	client := &http.Client{Transport: r.Transport()}
	resp, err := client.Get(r.URL() + "/v2/")
	if err != nil {
		t.Fatalf("GET /v2/ trusting the CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ = %s, want 200", resp.Status)
	}
}
