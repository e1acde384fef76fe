package remote

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TLSOptions are the TLS settings, global and per registry (host[:port]).
type TLSOptions struct {
	SkipVerify     bool // pushes
	SkipVerifyPull bool // pulls
	// SkipVerifyRegistries skip verification for these registries only.
	SkipVerifyRegistries []string
	// Certificates adds a CA bundle (PEM file) per registry.
	Certificates map[string]string
	// ClientCerts holds a client certificate and key file per registry.
	ClientCerts map[string][2]string
}

// transport returns a round tripper that picks each registry's TLS
// configuration by the request's host.
func (t TLSOptions) transport(pull bool) (http.RoundTripper, error) {
	base := remote.DefaultTransport.(*http.Transport)
	rt := &hostTransport{byHost: map[string]*http.Transport{}}
	mk := func(host string) (*http.Transport, error) {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if (pull && t.SkipVerifyPull) || (!pull && t.SkipVerify) || contains(t.SkipVerifyRegistries, host) {
			cfg.InsecureSkipVerify = true //nolint:gosec // asked for by flag
		}
		if p, ok := t.Certificates[host]; ok {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("--registry-certificate %s: %w", host, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--registry-certificate %s: no PEM certificate in %s", host, p)
			}
			cfg.RootCAs = pool
		}
		if kp, ok := t.ClientCerts[host]; ok {
			cert, err := tls.LoadX509KeyPair(kp[0], kp[1])
			if err != nil {
				return nil, fmt.Errorf("--registry-client-cert %s: %w", host, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		tr := base.Clone()
		tr.TLSClientConfig = cfg
		return tr, nil
	}
	def, err := mk("")
	if err != nil {
		return nil, err
	}
	rt.def = def
	hosts := map[string]bool{}
	for _, h := range t.SkipVerifyRegistries {
		hosts[h] = true
	}
	for h := range t.Certificates {
		hosts[h] = true
	}
	for h := range t.ClientCerts {
		hosts[h] = true
	}
	for h := range hosts {
		tr, err := mk(h)
		if err != nil {
			return nil, err
		}
		rt.byHost[h] = tr
	}
	return rt, nil
}

// hostTransport is read-only once made.
type hostTransport struct {
	def    *http.Transport
	byHost map[string]*http.Transport
}

func (h *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	tr, ok := h.byHost[host]
	if !ok {
		if name, _, err := net.SplitHostPort(host); err == nil {
			tr, ok = h.byHost[name]
		}
	}
	if !ok {
		tr = h.def
	}
	return tr.RoundTrip(req)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
