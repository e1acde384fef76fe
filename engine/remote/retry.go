package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Every registry request is retried here and only here: ggcr's own
// retries are off (see options), so the two cannot multiply.
const (
	// firstWait is the wait before the first retry; each next one
	// doubles, up to maxWait, with ±20% jitter.
	firstWait = 500 * time.Millisecond
	maxWait   = 4 * time.Second
	// maxRetryAfter bounds how long a registry's Retry-After is obeyed.
	maxRetryAfter = 10 * time.Second
)

// RetryBudget is the longest the default retries wait in all, jitter
// included: what a registry that never answers costs before the build
// fails (the README states it).
func RetryBudget(retries int) time.Duration {
	var d time.Duration
	for i := range retries {
		d += backoff(i)
	}
	return d * 12 / 10
}

// backoff is the wait before retry i (from 0), without jitter.
func backoff(i int) time.Duration {
	return min(firstWait<<min(i, 10), maxWait)
}

// Retry runs fn until it succeeds, fails for a reason retrying cannot fix,
// or runs out of tries; each retry is logged with its cause.
func (o Options) Retry(ctx context.Context, fn func() error) error { return o.retry(ctx, fn) }

func (o Options) retry(ctx context.Context, fn func() error) error {
	tries := o.retries() + 1
	for i := 0; ; i++ {
		err := fn()
		if err == nil || ctx.Err() != nil {
			return err
		}
		again, wait := retryable(err)
		if !again || i+1 >= tries {
			return err
		}
		wait = max(wait, jitter(backoff(i)))
		o.logf("retrying in %s (attempt %d of %d): %v", wait.Round(time.Millisecond), i+2, tries, err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// retryable decides whether a failed registry request may succeed when
// sent again, and how long the registry asked to wait first. Transient:
// 408, 429, 5xx, connections refused, reset or dropped, timeouts, bodies
// cut short or corrupted on the way. Permanent: everything else, notably
// a name that does not resolve, a certificate that does not verify, and
// the 4xx answers (authentication, a missing image, a bad manifest).
func retryable(err error) (bool, time.Duration) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, 0
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return true, ra.wait
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return transientStatus(te.StatusCode), 0
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound && (dns.IsTimeout || dns.IsTemporary), 0
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		recordHead tls.RecordHeaderError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &recordHead) {
		return false, 0
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne) && ne.Timeout():
		return true, 0
	}
	// ggcr's digest and size checks of a blob read (internal/verify):
	// the bytes were damaged or cut on the way.
	return strings.Contains(err.Error(), "error verifying "), 0
}

// transientStatus tells the HTTP statuses worth another try.
func transientStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfterError is a 429 or 503 whose Retry-After said when to come back.
type retryAfterError struct {
	method, url string
	status      int
	wait        time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%s %s: %d %s (Retry-After %s)", e.method, e.url, e.status, http.StatusText(e.status), e.wait)
}

// retryAfterTransport turns a 429 or 503 that carries Retry-After into a
// retryAfterError, which ggcr passes up intact (its own error keeps no
// headers), so retry can wait as long as the registry asked.
type retryAfterTransport struct{ inner http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return resp, err
	}
	wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if !ok {
		return resp, nil
	}
	resp.Body.Close()
	return nil, &retryAfterError{method: req.Method, url: req.URL.Redacted(), status: resp.StatusCode, wait: min(wait, maxRetryAfter)}
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
