package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Every class of failure, and whether it is tried again.
func TestRetryableClasses(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("pushing: %w", &transport.Error{StatusCode: code})
	}
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: err} }
	opErr := func(errno syscall.Errno) error {
		return urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: &osSyscallError{errno}})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
		wait time.Duration
	}{
		{"500", status(500), true, 0},
		{"502", status(502), true, 0},
		{"503", status(503), true, 0},
		{"504", status(504), true, 0},
		{"408", status(408), true, 0},
		{"429", status(429), true, 0},
		{"429 Retry-After", urlErr(&retryAfterError{err: &transport.Error{StatusCode: 429}, wait: 3 * time.Second}), true, 3 * time.Second},
		{"retried to the end", urlErr(&exhaustedError{tries: 9, err: &transport.Error{StatusCode: 503}}), false, 0},
		{"400", status(400), false, 0},
		{"401", status(401), false, 0},
		{"403", status(403), false, 0},
		{"404", status(404), false, 0},
		{"405", status(405), false, 0},
		{"connection refused", opErr(syscall.ECONNREFUSED), true, 0},
		{"connection reset", opErr(syscall.ECONNRESET), true, 0},
		{"dropped (EOF)", urlErr(io.EOF), true, 0},
		{"truncated body", fmt.Errorf("reading blob: %w", io.ErrUnexpectedEOF), true, 0},
		{"corrupted body", errors.New(`error verifying sha256 checksum after reading 10 bytes; got "x", want "y"`), true, 0},
		{"timeout", urlErr(&net.OpError{Op: "read", Err: timeoutError{}}), true, 0},
		{"no such host", urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "no-such-registry.invalid", IsNotFound: true}}), false, 0},
		{"DNS timeout", urlErr(&net.DNSError{Err: "i/o timeout", Name: "r.example", IsTimeout: true}), true, 0},
		{"unknown CA", urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false, 0},
		{"wrong host", urlErr(x509.HostnameError{Host: "r.example", Certificate: &x509.Certificate{}}), false, 0},
		{"expired", urlErr(x509.CertificateInvalidError{Reason: x509.Expired, Cert: &x509.Certificate{}}), false, 0},
		{"HTTP to HTTPS", urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false, 0},
		{"bad reference", fmt.Errorf("parsing: %w", &name.ErrBadName{}), false, 0},
		{"cancelled", urlErr(context.Canceled), false, 0},
		{"deadline", urlErr(context.DeadlineExceeded), false, 0},
	} {
		got, wait := retryable(tc.err)
		if got != tc.want || wait != tc.wait {
			t.Errorf("%s (%v): retry %v after %s, want %v after %s", tc.name, tc.err, got, wait, tc.want, tc.wait)
		}
	}
}

type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "connect: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// The default retry budget is at most 15 s: what the README states.
func TestRetryBudget(t *testing.T) {
	if DefaultRetryBudget > 15*time.Second {
		t.Errorf("the default retry budget is %s, over 15s", DefaultRetryBudget)
	}
}

// logged collects Logf's lines.
type logged struct {
	mu    sync.Mutex
	lines []string
}

func (l *logged) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logged) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// A registry whose name does not resolve fails at once, naming it.
func TestPullUnknownHostFailsAtOnce(t *testing.T) {
	var log logged
	o := Options{Logf: log.logf}
	_, err := o.Pull(context.Background(), "no-such-registry.invalid/app:1")
	if err == nil || !strings.Contains(err.Error(), "no-such-registry.invalid") {
		t.Fatalf("got %v, want an error naming the registry", err)
	}
	if log.String() != "" {
		t.Errorf("retried an unknown host:\n%s", log.String())
	}
}

// A closed port is retried as many times as asked, each retry logged with
// its attempt and cause, then fails naming the request.
func TestPullClosedPortRetriesThenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	var log logged
	o := Options{Logf: log.logf, Retries: 2}
	_, err = o.Pull(context.Background(), host+"/app:1")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), host) {
		t.Fatalf("got %v, want connection refused naming %s", err, host)
	}
	got := log.String()
	for _, want := range []string{"(retry 1 of 2)", "(retry 2 of 2)", "connection refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %q:\n%s", want, got)
		}
	}
	// ggcr tries https and http at once on 127.0.0.1: two requests, each
	// retried twice.
	if n := strings.Count(got, "retrying in"); n != 4 || strings.Contains(got, "retry 3") {
		t.Errorf("%d retries logged, want 2 for each of the two requests:\n%s", n, got)
	}
}

// A 429 with Retry-After is waited out as the registry asked, then the
// pull lands; a 404 is not retried.
func TestPullHonoursRetryAfter(t *testing.T) {
	var refused atomic.Int32
	_, host := countedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") && refused.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/app/base:1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	refused.Store(0)
	var log logged
	o := Options{Logf: log.logf}
	if _, err := o.Pull(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	if got := log.String(); !strings.Contains(got, "retrying in 1s (") || !strings.Contains(got, "Retry-After 1s") {
		t.Errorf("the retry did not wait as asked:\n%s", got)
	}

	log = logged{}
	_, err = o.Pull(context.Background(), host+"/app/missing:1")
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		t.Fatalf("got %v, want a 404", err)
	}
	if log.String() != "" {
		t.Errorf("a 404 was retried:\n%s", log.String())
	}
}

// When the registry stores a manifest but its answer is lost, the push
// looks at the tag and succeeds; when the manifest never arrives, the push
// fails. Through both push paths: the manifest alone after early uploads,
// and the whole image.
func TestPushVerdictMatchesTheRegistry(t *testing.T) {
	for _, stored := range []bool{true, false} {
		for _, early := range []bool{true, false} {
			t.Run(fmt.Sprintf("stored=%v/early=%v", stored, early), func(t *testing.T) {
				_, host := countedRegistry(t, func(h http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
							h.ServeHTTP(w, r)
							return
						}
						if stored {
							h.ServeHTTP(httptest.NewRecorder(), r) // the answer goes nowhere
						}
						conn, _, err := w.(http.Hijacker).Hijack()
						if err != nil {
							t.Error(err)
							return
						}
						conn.Close()
					})
				})
				ref := host + "/app/verdict:1"
				var log logged
				o := Options{Logf: log.logf, Retries: 1}.Shared()
				img, err := random.Image(256, 2)
				if err != nil {
					t.Fatal(err)
				}
				var u *Uploader
				if early {
					if u, err = o.NewUploader(context.Background(), ref); err != nil {
						t.Fatal(err)
					}
					defer u.Close()
					layers, _ := img.Layers()
					for _, l := range layers {
						u.Add(context.Background(), l)
					}
				}
				err = o.PushAfter(context.Background(), u, img, []string{ref})
				if stored && err != nil {
					t.Fatalf("the tag holds the image, yet the push failed: %v\n%s", err, log.String())
				}
				if !stored && err == nil {
					t.Fatalf("the tag holds nothing, yet the push succeeded:\n%s", log.String())
				}
				if stored && !strings.Contains(log.String(), "the push landed, its answer did not") {
					t.Errorf("no word of the lost answer:\n%s", log.String())
				}
			})
		}
	}
}
