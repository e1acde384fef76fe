package buildctx

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// GitAuth is the HTTP basic auth a git:// context is cloned with, empty
// for none. It is sent to the context's own scheme and host only: a
// submodule there gets it too, one elsewhere does not. Printed or logged,
// it shows only whether it is set.
type GitAuth struct {
	Username string
	Password string
}

// GitAuthFromEnv reads the credentials as Kaniko does, from getenv
// (os.Getenv): GIT_TOKEN, when set, is the username with an empty
// password (the form GitHub and others take for a token); otherwise
// GIT_USERNAME and GIT_PASSWORD. An empty variable counts as unset.
func GitAuthFromEnv(getenv func(string) string) GitAuth {
	if tok := getenv("GIT_TOKEN"); tok != "" {
		return GitAuth{Username: tok}
	}
	return GitAuth{Username: getenv("GIT_USERNAME"), Password: getenv("GIT_PASSWORD")}
}

// IsZero reports whether no credentials are set.
func (a GitAuth) IsZero() bool { return a == GitAuth{} }

func (a GitAuth) redacted() string {
	if a.IsZero() {
		return "GitAuth{}"
	}
	return "GitAuth{redacted}"
}

// Format prints neither the username (a token, with GIT_TOKEN) nor the
// password, whatever the verb.
func (a GitAuth) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.redacted()) }

// LogValue keeps the credentials out of structured logs.
func (a GitAuth) LogValue() slog.Value { return slog.StringValue(a.redacted()) }

// MarshalText keeps them out of JSON and of slog's handlers when GitAuth
// is a field of what is logged (Options).
func (a GitAuth) MarshalText() ([]byte, error) { return []byte(a.redacted()), nil }

// originAuth is basic auth for one origin (scheme://host[:port]): go-git
// hands a clone's auth to every submodule, on whatever host, and this
// keeps it from those elsewhere, and from plain http when the context is
// cloned over https (an http context's host gets it over https too).
type originAuth struct {
	scheme, host string
	auth         GitAuth
}

var _ githttp.AuthMethod = (*originAuth)(nil)

// newOriginAuth is a's auth for the origin of rawURL; nil when a is
// empty or rawURL does not parse.
func newOriginAuth(rawURL string, a GitAuth) *originAuth {
	u, err := url.Parse(rawURL)
	if a.IsZero() || err != nil || u.Host == "" {
		return nil
	}
	return &originAuth{scheme: strings.ToLower(u.Scheme), host: u.Host, auth: a}
}

func (o *originAuth) SetAuth(r *http.Request) {
	scheme := strings.ToLower(r.URL.Scheme)
	if (scheme == o.scheme || scheme == "https" && o.scheme == "http") && strings.EqualFold(r.URL.Host, o.host) {
		r.SetBasicAuth(o.auth.Username, o.auth.Password)
	}
}

func (o *originAuth) Name() string { return "http-basic-auth" }

// String names the origin, not the credentials (go-git's BasicAuth
// prints the username, which is the token with GIT_TOKEN).
func (o *originAuth) String() string {
	return o.Name() + " for " + o.scheme + "://" + o.host
}

// cutUserinfo takes "user:password@" off the host of "host/path", as a
// URL's userinfo (percent-escaped); ok tells whether there was one.
func cutUserinfo(s string) (rest string, a GitAuth, ok bool) {
	host, path := s, ""
	if i := strings.IndexByte(s, '/'); i >= 0 {
		host, path = s[:i], s[i:]
	}
	at := strings.LastIndexByte(host, '@')
	if at < 0 {
		return s, GitAuth{}, false
	}
	user, pass, _ := strings.Cut(host[:at], ":")
	if v, err := url.PathUnescape(user); err == nil {
		user = v
	}
	if v, err := url.PathUnescape(pass); err == nil {
		pass = v
	}
	return host[at+1:] + path, GitAuth{Username: user, Password: pass}, true
}
