//go:build e2e

package e2e

// The executor image against registries that are not the suite's plain
// one: basic auth from config.json, TLS with a CA of its own, a wrong
// password, and a proxy that makes a fifth of the requests fail.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

// startRegistry starts a registry of the test's own and pushes the
// busybox base image to <host>/base/busybox:latest with opts.
func startRegistry(t *testing.T, o registry.Options, opts ...remote.Option) (*registry.Registry, string) {
	t.Helper()
	ctx := context.Background()
	o.Dir = t.TempDir()
	reg, err := registry.Start(ctx, o)
	if err != nil {
		t.Fatalf("starting a registry (run `bash e2e/setup.sh` to install docker-registry and htpasswd): %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	base := reg.Host + "/base/busybox:latest"
	if err := baseimage.Push(ctx, img, base, opts...); err != nil {
		t.Fatal(err)
	}
	return reg, base
}

// dockerConfigDir writes a config.json that logs in to host as user:pass
// into a new directory, to be mounted at /kaniko/.docker.
func dockerConfigDir(t *testing.T, host, user, pass string) string {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// registryDigest is the digest the registry has for ref.
func registryDigest(t *testing.T, ref string, opts ...remote.Option) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r, opts...)
	if err != nil {
		t.Fatalf("looking up %s: %v", ref, err)
	}
	return desc.Digest.String()
}

// readDigestFile reads what --digest-file wrote.
func readDigestFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading the digest file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// simpleContext writes a context whose Dockerfile builds FROM base in two
// stages with a RUN in each, and returns the directory and the files the
// image must have.
func simpleContext(t *testing.T, base, tag string) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM " + base + " AS build\n" +
			"RUN echo " + tag + " > /tag.txt\n" +
			"FROM " + base + "\n" +
			"COPY --from=build /tag.txt /\n" +
			"COPY hello.txt /\n" +
			"RUN cat /tag.txt /hello.txt > /both.txt\n",
		"hello.txt": "hello\n",
	})
	return dir, map[string]string{"/tag.txt": tag + "\n", "/hello.txt": "hello\n", "/both.txt": tag + "\nhello\n"}
}

// checkImage checks that the registry has digest for ref, and pulls,
// validates and checks the image like checkFiles.
func checkImage(t *testing.T, ref, digest string, files map[string]string, opts ...remote.Option) *built {
	t.Helper()
	if got := registryDigest(t, ref, opts...); got != digest {
		t.Errorf("the registry has %s for %s, the executor's --digest-file says %q", got, ref, digest)
	}
	return checkFiles(t, ref, files, opts...)
}

// TestImageRegistryBasicAuth pulls the base from and pushes to a registry
// with htpasswd basic auth, with the credentials in a config.json mounted
// at /kaniko/.docker.
func TestImageRegistryBasicAuth(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	const user, pass = "builder", "e2e-secret-pass"
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	reg, base := startRegistry(t, registry.Options{User: user, Password: pass}, auth)
	if _, err := pull(ctx, base); err == nil {
		t.Fatal("the registry serves anonymous pulls: the test would prove nothing")
	}
	ctxDir, files := simpleContext(t, base, "basic-auth")
	out := t.TempDir()
	ref := reg.Host + "/app/basic-auth:1"
	c := &container{
		args: []string{"--context", "/workspace", "--destination", ref, "--digest-file", "/kaniko/out/digest"},
		volumes: []string{ctxDir + ":/workspace", out + ":/kaniko/out",
			dockerConfigDir(t, reg.Host, user, pass) + ":/kaniko/.docker:ro"},
	}
	log, err := h.runContainer(ctx, c)
	if err != nil {
		t.Fatalf("executor: %v\n%s", err, tail(log, 6000))
	}
	checkImage(t, ref, readDigestFile(t, filepath.Join(out, "digest")), files, auth)
}

// TestImageRegistryWrongPassword pushes with a wrong password: the build
// must fail on the push-permission check, in seconds, and leave no tag.
// The base is on the suite's anonymous registry, so only the push check
// can fail. The check runs alongside the first steps, which it cancels:
// whether a step got to finish before the refusal came is up to timing.
func TestImageRegistryWrongPassword(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	const user, pass = "builder", "e2e-right-pass"
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	reg, _ := startRegistry(t, registry.Options{User: user, Password: pass}, auth)
	ctxDir, _ := simpleContext(t, h.bases["busybox"], "wrong-password")
	ref := reg.Host + "/app/wrong-password:1"
	c := &container{
		args: []string{"--context", "/workspace", "--destination", ref},
		volumes: []string{ctxDir + ":/workspace",
			dockerConfigDir(t, reg.Host, user, "not-the-password") + ":/kaniko/.docker:ro"},
	}
	start := time.Now()
	log, err := h.runContainer(ctx, c)
	took := time.Since(start)
	t.Logf("took %s:\n%s", took.Round(time.Millisecond), tail(log, 3000))
	if code := exitCode(err); code <= 0 {
		t.Errorf("the executor exited with %d (%v), want a failure exit", code, err)
	}
	if !strings.Contains(log, "checking push access to "+ref) {
		t.Errorf("the build did not fail on the push check:\n%s", tail(log, 3000))
	}
	// Seconds: the container's start and stop included; a 401 is no
	// reason to retry with backoff.
	if took > 20*time.Second {
		t.Errorf("failing took %s, want a few seconds", took)
	}
	if !strings.Contains(strings.ToLower(log), "unauthorized") && !strings.Contains(log, "401") {
		t.Errorf("the output does not say the registry refused the credentials:\n%s", tail(log, 3000))
	}
	found, err := exists(ctx, ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Errorf("%s exists after the build failed", ref)
	}
}

// TestImageRegistryTLS pulls from and pushes to a registry that serves
// TLS with a certificate of a CA of its own, which the executor trusts
// through --registry-certificate. Without the flag the build must fail.
func TestImageRegistryTLS(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	reg, err := registry.Start(ctx, registry.Options{Dir: t.TempDir(), TLS: true})
	if err != nil {
		t.Fatalf("starting a TLS registry: %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	tr := remote.WithTransport(reg.Transport())
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	base := reg.Host + "/base/busybox:latest"
	if err := baseimage.Push(ctx, img, base, tr); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Dir(reg.CAFile)
	ctxDir, files := simpleContext(t, base, "tls")

	t.Run("registry-certificate", func(t *testing.T) {
		out := t.TempDir()
		ref := reg.Host + "/app/tls:1"
		c := &container{
			args: []string{"--context", "/workspace", "--destination", ref, "--digest-file", "/kaniko/out/digest",
				"--registry-certificate", reg.Host + "=/certs/" + filepath.Base(reg.CAFile)},
			volumes: []string{ctxDir + ":/workspace", out + ":/kaniko/out", certs + ":/certs:ro"},
		}
		log, err := h.runContainer(ctx, c)
		if err != nil {
			t.Fatalf("executor: %v\n%s", err, tail(log, 6000))
		}
		checkImage(t, ref, readDigestFile(t, filepath.Join(out, "digest")), files, tr)
	})
	t.Run("untrusted", func(t *testing.T) {
		ref := reg.Host + "/app/tls-untrusted:1"
		c := &container{
			args:    []string{"--context", "/workspace", "--destination", ref},
			volumes: []string{ctxDir + ":/workspace"},
		}
		log, err := h.runContainer(ctx, c)
		t.Logf("%s", tail(log, 3000))
		if code := exitCode(err); code <= 0 {
			t.Errorf("the executor exited with %d (%v) without a way to trust the registry's CA, want a failure", code, err)
		}
		if found, err := exists(ctx, ref, tr); err != nil || found {
			t.Errorf("%s: exists %v (lookup error %v) after a build that could not trust the registry", ref, found, err)
		}
	})
}

// faultProxy is a reverse proxy in front of a registry that answers a
// share of the requests itself, drawn from a seeded pseudo-random
// sequence: 503, 500, 429 with Retry-After, a connection closed without an
// answer, a blob cut short, or an answer after a 2 s stall.
type faultProxy struct {
	host string // 127.0.0.1:port
	rate float64

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int // fault kind (or "passed") -> requests
	faults []string       // "kind METHOD path", in order
}

func startFaultProxy(t *testing.T, target string, seed uint64, rate float64) *faultProxy {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{
		host:   l.Addr().String(),
		rate:   rate,
		rng:    rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)),
		counts: map[string]int{},
	}
	// The registry sees the proxy's Host header, so the upload URLs it
	// hands out lead back through the proxy.
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			kind := p.draw(r)
			switch kind {
			case "503":
				http.Error(w, "injected fault", http.StatusServiceUnavailable)
			case "500":
				http.Error(w, "injected fault", http.StatusInternalServerError)
			case "429":
				w.Header().Set("Retry-After", "1")
				http.Error(w, "injected fault", http.StatusTooManyRequests)
			case "stall":
				time.Sleep(2 * time.Second)
				rp.ServeHTTP(w, r)
			case "truncate":
				if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
					truncated(w, r, u)
					return
				}
				drop(w)
			case "drop":
				drop(w)
			default:
				rp.ServeHTTP(w, r)
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("the server cannot hijack connections")
	}
	if conn, _, err := hj.Hijack(); err == nil {
		conn.Close()
	}
}

// truncated sends the registry's answer to r with its headers, but half
// its body: the server then closes the connection, the rest unsent.
func truncated(w http.ResponseWriter, r *http.Request, target *url.URL) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), nil)
	if err != nil {
		drop(w)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		drop(w)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.CopyN(w, resp.Body, max(resp.ContentLength/2, 0))
}

// setRate changes the share of requests that fail.
func (p *faultProxy) setRate(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = rate
}

func (p *faultProxy) draw(r *http.Request) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	kind := "passed"
	if p.rng.Float64() < p.rate {
		kinds := []string{"503", "500", "429", "drop", "truncate", "stall"}
		if p.rate >= 1 {
			kinds = kinds[:5] // a stall ends in an answer: every request fails
		}
		kind = kinds[p.rng.IntN(len(kinds))]
		p.faults = append(p.faults, kind+" "+r.Method+" "+r.URL.Path)
	}
	p.counts[kind]++
	return kind
}

// stats says how many requests got which answer since the last call, and
// which were faults.
func (p *faultProxy) stats() (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kinds := make([]string, 0, len(p.counts))
	for k := range p.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	total := 0
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, p.counts[k]))
		if k != "passed" {
			total += p.counts[k]
		}
	}
	s := strings.Join(parts, " ")
	if len(p.faults) > 0 {
		s += "\n  " + strings.Join(p.faults, "\n  ")
	}
	p.faults = nil
	p.counts = map[string]int{}
	return s, total
}

// faultsDockerfile is a build of several stages and layers of some size,
// different per build i, FROM base.
func faultsDockerfile(base string, i int) map[string]string {
	return map[string]string{
		"Dockerfile": fmt.Sprintf(`FROM %[1]s AS gen
RUN for n in $(seq 1 %[2]d); do echo "line $n of build %[3]d" >> /gen.txt; done
RUN mkdir -p /gen && for n in $(seq 1 20); do head -c %[4]d /dev/zero | tr '\0' '%[3]d' > /gen/f$n; done

FROM %[1]s
COPY --from=gen /gen.txt /gen/ /srv/
RUN echo %[3]d > /build.txt
RUN mkdir -p /var/app && cp /srv/gen.txt /var/app/copy.txt
COPY ctx.txt /ctx.txt
RUN rm /srv/f1 && chmod 0600 /srv/f2
`, base, 1000*i, i, 20000*i),
		"ctx.txt": fmt.Sprintf("context of build %d\n", i),
	}
}

// TestImageRegistryFaults builds through a proxy that fails 20%, then
// 50%, of the registry requests (base pulls, cache reads and writes, the
// push check, the pushes) with every kind of fault it has, and wants
// every build, run with the executor's default flags, to land and to
// equal the same build made without faults; run again, from the cache
// written through the proxy, it still does. At 100% a build fails within
// the retry budget and pushes nothing, as does a build whose RUN fails.
func TestImageRegistryFaults(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	reg, _ := startRegistry(t, registry.Options{})
	proxy := startFaultProxy(t, reg.Host, 20260101, 0)
	base := proxy.host + "/base/busybox:latest"
	// build runs the executor with the default retries; repo is under
	// host, where its cache goes too.
	build := func(t *testing.T, dir, host, repo string) (string, error) {
		out := t.TempDir()
		c := &container{
			args: []string{"--context", "/workspace", "--destination", host + "/" + repo + ":latest",
				"--cache=true", "--cache-repo", host + "/" + repo + "-cache", "--reproducible",
				"--digest-file", "/kaniko/out/digest"},
			volumes: []string{dir + ":/workspace", out + ":/kaniko/out"},
		}
		log, err := h.runContainer(ctx, c)
		if err != nil {
			return log, err
		}
		return readDigestFile(t, filepath.Join(out, "digest")), nil
	}

	injected := 0
	for i, rate := range []float64{0.2, 0.2, 0.5, 0.5} {
		i++
		t.Run(fmt.Sprintf("build-%d-at-%.0f%%", i, rate*100), func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, faultsDockerfile(base, i))
			// The reference: the same build, no faults.
			proxy.setRate(0)
			want, err := build(t, dir, reg.Host, fmt.Sprintf("faults/clean-%d", i))
			if err != nil {
				t.Fatalf("the build without faults: %v\n%s", err, tail(want, 6000))
			}
			proxy.stats()
			proxy.setRate(rate)
			defer proxy.setRate(0)
			repo := fmt.Sprintf("faults/build-%d", i)
			for _, run := range []string{"first", "from the cache"} {
				got, err := build(t, dir, proxy.host, repo)
				stats, n := proxy.stats()
				injected += n
				t.Logf("%s run, proxy: %s", run, stats)
				if err != nil {
					t.Fatalf("%s run: %v\n%s", run, err, tail(got, 6000))
				}
				if got != want {
					t.Errorf("%s run: digest %s, the build without faults %s", run, got, want)
				}
			}
			direct := fmt.Sprintf("%s/%s:latest", reg.Host, repo)
			b := checkImage(t, direct, want, map[string]string{
				"/build.txt":        fmt.Sprintf("%d\n", i),
				"/ctx.txt":          fmt.Sprintf("context of build %d\n", i),
				"/var/app/copy.txt": genLines(1000*i, i),
				"/srv/f3":           strings.Repeat(fmt.Sprint(i), 20000*i),
			})
			if _, ok := b.fs["/srv/f1"]; ok {
				t.Errorf("%s: /srv/f1 was removed by a RUN but is there", direct)
			}
			if f := b.fs["/srv/f2"]; f != nil && f.Mode != 0o600 {
				t.Errorf("%s: /srv/f2 has mode %04o, want 0600", direct, f.Mode)
			}
		})
	}
	if injected == 0 {
		t.Fatal("the proxy injected no fault: the test proved nothing")
	}
	t.Logf("%d faults injected over the builds", injected)

	failing := func(t *testing.T, rate float64, dockerfile, repo string) string {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": dockerfile})
		proxy.setRate(rate)
		defer proxy.setRate(0)
		ref := proxy.host + "/" + repo + ":latest"
		c := &container{args: []string{"--context", "/workspace", "--destination", ref}, volumes: []string{dir + ":/workspace"}}
		log, err := h.runContainer(ctx, c)
		stats, _ := proxy.stats()
		t.Logf("proxy: %s", stats)
		if code := exitCode(err); code <= 0 {
			t.Fatalf("the executor exited with %d (%v), want a failure\n%s", code, err, tail(log, 3000))
		}
		found, err := exists(ctx, reg.Host+"/"+repo+":latest")
		if err != nil {
			t.Fatal(err)
		}
		if found {
			t.Errorf("the failed build pushed a tag")
		}
		return executorOutput(log)
	}
	t.Run("failing-build", func(t *testing.T) {
		failing(t, 0.2, "FROM "+base+"\nRUN echo before > /before.txt\nRUN false\n", "faults/failing")
	})
	t.Run("every-request-fails", func(t *testing.T) {
		out := failing(t, 1, "FROM "+base+"\nRUN echo never > /never.txt\n", "faults/never")
		if !strings.Contains(out, "of the 14s retry budget spent") {
			t.Errorf("no retry logged against its budget:\n%s", tail(out, 3000))
		}
	})
}

// genLines is what the gen stage's first RUN writes.
func genLines(n, build int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d of build %d\n", i, build)
	}
	return b.String()
}
