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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Every registry request is retried in one place, by one policy: the
// transport (retryTransport) sends a request again while it fails for a
// transient reason, and gives up with an exhaustedError, which nothing
// retries again. What the transport cannot retry, a request whose body
// cannot be sent twice or a body cut short while read, the operation
// retries (Options.retry) under the same policy. ggcr's own retries are
// off (see options), so no two layers multiply.
//
// By default a request is tried again for as long as the retry budget
// lasts, quickly at first (a flaky proxy costs little) and every 2 s at
// most; --push-retry=N asks for N retries instead, Kaniko's way.
const (
	// DefaultRetryBudget is how long, by default, a request that keeps
	// failing for a transient reason is retried: what a registry that is
	// down costs before the build fails (the README states it).
	DefaultRetryBudget = 14 * time.Second
	// firstWait is the wait before the first retry; each next one
	// doubles, up to maxWait, with ±20% jitter.
	firstWait = 50 * time.Millisecond
	maxWait   = 2 * time.Second
	// countedFirstWait starts the waits of --push-retry=N, as Kaniko's.
	countedFirstWait = 500 * time.Millisecond
	// maxRetryAfter bounds how long a registry's Retry-After is obeyed.
	maxRetryAfter = 10 * time.Second
)

// backoff is the wait before retry i (from 0), without jitter.
func backoff(first time.Duration, i int) time.Duration {
	return min(first<<min(i, 10), maxWait)
}

// retrier is one request's or one operation's run of tries.
type retrier struct {
	o     Options
	start time.Time
	tries int
}

func (o Options) retrier() *retrier { return &retrier{o: o, start: time.Now()} }

// next decides, after a failure, whether to try again; if so, it logs the
// retry and returns the wait before it. wait is what the registry asked.
func (r *retrier) next(err error, asked time.Duration) (time.Duration, bool) {
	first := firstWait
	if r.o.Retries > 0 {
		first = countedFirstWait
	}
	wait := max(asked, jitter(backoff(first, r.tries)))
	r.tries++
	var left string
	if r.o.Retries > 0 {
		if r.tries > r.o.Retries {
			return 0, false
		}
		left = fmt.Sprintf("retry %d of %d", r.tries, r.o.Retries)
	} else {
		spent := time.Since(r.start) + wait
		if spent > DefaultRetryBudget {
			return 0, false
		}
		left = fmt.Sprintf("%s of the %s retry budget spent", spent.Round(100*time.Millisecond), DefaultRetryBudget)
	}
	r.o.logf("retrying in %s (%s): %v", wait.Round(time.Millisecond), left, err)
	return wait, true
}

// sleep waits d, or less when ctx ends; it tells whether ctx is still on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry runs fn until it succeeds, fails for a reason retrying cannot fix,
// or runs out of retries; each retry is logged with its cause.
func (o Options) Retry(ctx context.Context, fn func() error) error { return o.retry(ctx, fn) }

func (o Options) retry(ctx context.Context, fn func() error) error {
	r := o.retrier()
	for {
		err := fn()
		if err == nil || ctx.Err() != nil {
			return err
		}
		again, asked := retryable(err)
		if !again {
			return err
		}
		wait, ok := r.next(err, asked)
		if !ok || !sleep(ctx, wait) {
			return err
		}
	}
}

// exhaustedError is a request the transport gave up retrying.
type exhaustedError struct {
	tries int
	spent time.Duration
	err   error
}

func (e *exhaustedError) Error() string {
	return fmt.Sprintf("%v (gave up after %d tries in %s)", e.err, e.tries, e.spent.Round(100*time.Millisecond))
}

func (e *exhaustedError) Unwrap() error { return e.err }

// retryTransport sends each request again while it fails for a transient
// reason (retryable), when its body, if any, can be sent again.
type retryTransport struct {
	inner http.RoundTripper
	o     Options
}

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	r := t.o.retrier()
	for try := req; ; {
		resp, err := t.inner.RoundTrip(try)
		cause, asked := err, time.Duration(0)
		if err == nil {
			if !transientStatus(resp.StatusCode) {
				return resp, nil
			}
			cause = transport.CheckError(resp) // reads and closes the body
			if w, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				asked = min(w, maxRetryAfter)
				cause = &retryAfterError{err: cause, wait: asked}
			}
		}
		again, _ := retryable(cause)
		if !again || !replayable || req.Context().Err() != nil {
			return nil, cause // the operation above may retry it
		}
		logged := cause
		if err != nil {
			logged = fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
		}
		wait, ok := r.next(logged, asked)
		if !ok {
			return nil, &exhaustedError{tries: r.tries, spent: time.Since(r.start), err: cause}
		}
		if !sleep(req.Context(), wait) {
			return nil, cause
		}
		if try = req.Clone(req.Context()); req.GetBody != nil {
			if try.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
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
	var ex *exhaustedError
	if errors.As(err, &ex) {
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

// Retryable is retryable's verdict, for other HTTP services the build
// reads (a gs:// context): the same causes are transient there.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	again, _ := retryable(err)
	return again
}

// TransientStatuses are the HTTP statuses worth another try.
func TransientStatuses() []int {
	return []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
}

func transientStatus(code int) bool { return slices.Contains(TransientStatuses(), code) }

// retryAfterError is a 429 or 503 whose Retry-After said when to come
// back.
type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string { return fmt.Sprintf("%v (Retry-After %s)", e.err, e.wait) }
func (e *retryAfterError) Unwrap() error { return e.err }

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
