//go:build linux

// Package registry runs a throwaway Distribution registry
// (/usr/bin/docker-registry, Debian package docker-registry) on a free
// loopback port for tests, optionally behind htpasswd basic auth and
// optionally over HTTPS with a certificate from a CA made for it.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultBinary is where Debian's docker-registry package installs the
// registry.
const DefaultBinary = "/usr/bin/docker-registry"

// Options configures Start. The zero value runs DefaultBinary without
// authentication in a fresh temporary directory.
type Options struct {
	// Binary is the registry program; empty means DefaultBinary.
	Binary string
	// Dir holds the config, the storage and the log; empty means a new
	// temporary directory that Close removes.
	Dir string
	// User and Password, when User is set, turn on htpasswd basic auth.
	// The htpasswd file is made with `htpasswd -Bbn` (apache2-utils).
	User     string
	Password string
	// TLS serves HTTPS: Start makes a CA and a server certificate for
	// 127.0.0.1 and localhost (see Registry.CAFile) in Dir.
	TLS bool
	// ReadyTimeout bounds the wait for the registry to answer; zero means
	// 30 seconds.
	ReadyTimeout time.Duration
}

// Registry is a running registry.
type Registry struct {
	// Host is 127.0.0.1:<port>, the host part of image references.
	Host string
	// Dir holds config.yml, storage/ and registry.log, and with TLS the
	// certificates.
	Dir string
	// CAFile is the PEM certificate of the CA that signed the registry's
	// certificate when it serves TLS; empty otherwise.
	CAFile string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	ownDir  bool
	user    string
	pass    string
	tls     *tls.Config // trusts CAFile; nil without TLS
}

// Start starts a registry on a free 127.0.0.1 port and waits until
// GET /v2/ answers (200, or 401 with auth on).
func Start(ctx context.Context, opts Options) (*Registry, error) {
	bin := opts.Binary
	if bin == "" {
		bin = DefaultBinary
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("finding registry binary (run e2e/setup.sh to install docker-registry): %w", err)
	}
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	dir, own := opts.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "e2e-registry-")
		if err != nil {
			return nil, fmt.Errorf("making registry directory: %w", err)
		}
		dir, own = d, true
	}
	// The free port is found by binding and releasing it, so another
	// process can take it before the registry does: retry a few times.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		r, err := start(ctx, bin, dir, opts, timeout)
		if err == nil {
			r.ownDir = own
			return r, nil
		}
		lastErr = err
	}
	if own {
		os.RemoveAll(dir)
	}
	return nil, lastErr
}

func start(ctx context.Context, bin, dir string, opts Options, timeout time.Duration) (*Registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	auth := ""
	if opts.User != "" {
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := writeHtpasswd(ctx, htpasswd, opts.User, opts.Password); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: e2e\n    path: %s\n", htpasswd)
	}
	tlsConfig, caFile := "", ""
	var clientTLS *tls.Config
	if opts.TLS {
		certs, err := makeCertificates(filepath.Join(dir, "certs"))
		if err != nil {
			return nil, err
		}
		tlsConfig = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certs.cert, certs.key)
		caFile = certs.ca
		clientTLS = &tls.Config{RootCAs: certs.pool, MinVersion: tls.VersionTLS12}
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, fmt.Errorf("making registry storage: %w", err)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  headers:
    X-Content-Type-Options: [nosniff]
%s%s`, storage, host, tlsConfig, auth)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("writing registry config: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening registry log: %w", err)
	}
	defer logf.Close()

	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Its own process group, so a Ctrl-C at the terminal reaches the test
	// binary, which then stops the registry itself; and killed with its
	// parent, so a test binary that dies (a -timeout panic) leaves no
	// registry behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting registry: %w", err)
	}
	r := &Registry{Host: host, Dir: dir, CAFile: caFile, cmd: cmd, done: make(chan struct{}),
		user: opts.User, pass: opts.Password, tls: clientTLS}
	go func() {
		r.waitErr = cmd.Wait()
		close(r.done)
	}()
	if err := r.waitReady(ctx, timeout); err != nil {
		r.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
		return nil, fmt.Errorf("waiting for registry on %s: %w\nregistry log:\n%s", host, err, tail(string(log), 2000))
	}
	return r, nil
}

func (r *Registry) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: r.Transport()}
	want := http.StatusOK
	if r.user != "" {
		want = http.StatusUnauthorized
	}
	var last error
	for {
		select {
		case <-r.done:
			return fmt.Errorf("registry exited early: %v", r.waitErr)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL()+"/v2/", nil)
		if err != nil {
			return fmt.Errorf("making request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			last = fmt.Errorf("GET /v2/ answered %s, want %d", resp.Status, want)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, errors.Join(ctx.Err(), last))
		case <-r.done:
			return fmt.Errorf("registry exited early: %v", r.waitErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// URL returns the registry's base URL, http://127.0.0.1:<port>, or
// https:// when it serves TLS.
func (r *Registry) URL() string {
	if r.tls != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// Transport returns an HTTP transport that trusts the registry's CA when
// it serves TLS, and the default transport otherwise.
func (r *Registry) Transport() http.RoundTripper {
	if r.tls == nil {
		return http.DefaultTransport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = r.tls.Clone()
	return t
}

// Close stops the registry by its PID and removes its directory if Start
// made it.
func (r *Registry) Close() error {
	err := r.stop()
	if r.ownDir {
		if rmErr := os.RemoveAll(r.Dir); rmErr != nil && err == nil {
			err = fmt.Errorf("removing registry directory: %w", rmErr)
		}
	}
	return err
}

func (r *Registry) stop() error {
	select {
	case <-r.done:
		return nil
	default:
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping registry pid %d: %w", r.cmd.Process.Pid, err)
	}
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		if err := r.cmd.Process.Kill(); err != nil {
			return fmt.Errorf("killing registry pid %d: %w", r.cmd.Process.Pid, err)
		}
		<-r.done
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func writeHtpasswd(ctx context.Context, path, user, pass string) error {
	out, err := exec.CommandContext(ctx, "htpasswd", "-Bbn", user, pass).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return fmt.Errorf("running htpasswd (apache2-utils, installed by e2e/setup.sh): %w", err)
	}
	if err := os.WriteFile(path, []byte(strings.TrimSpace(string(out))+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing htpasswd file: %w", err)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
