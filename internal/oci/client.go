package oci

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DefaultTimeout is the deadline of a registry request without progress, unless
// SOVOS_REGISTRY_TIMEOUT says otherwise.
const DefaultTimeout = 30 * time.Second

// TimeoutEnv names the environment variable holding the request deadline, a Go
// duration ("30s", "2m").
const TimeoutEnv = "SOVOS_REGISTRY_TIMEOUT"

// Client makes sovos's registry calls. It is safe for concurrent use; make one per
// command and share it.
type Client struct {
	insecure  []string
	keychain  authn.Keychain
	userAgent string
	timeout   time.Duration
	rt        *retryTransport

	subjects sync.Map // repository@digest -> *sync.Mutex, see LockSubject
}

// Option configures New.
type Option func(*options)

type options struct {
	insecure  []string
	keychain  authn.Keychain
	userAgent string
	timeout   time.Duration
	transport http.RoundTripper
	delays    []time.Duration
}

// WithInsecure lists the registries (host, with its port when not the default) spoken
// to in plain HTTP: the configuration's insecure_registries.
func WithInsecure(hosts ...string) Option {
	return func(o *options) { o.insecure = append(o.insecure, hosts...) }
}

// WithTimeout sets how long a request may go without progress (default DefaultTimeout;
// see the package comment). Zero or less keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithKeychain sets where credentials come from; the default is authn.DefaultKeychain
// (the Docker config, its credential helpers, DOCKER_CONFIG).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) { o.keychain = k }
}

// WithUserAgent adds ua ("sovos/0.2.0") to the User-Agent of every request.
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// WithTransport sets the HTTP transport under the client's own (tests: request
// counting, fault injection). The client's guarantees still apply on top of it.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.transport = rt }
}

// withRetryDelays replaces the waits between attempts (tests only).
func withRetryDelays(d ...time.Duration) Option {
	return func(o *options) { o.delays = d }
}

// New returns a Client.
func New(opts ...Option) *Client {
	o := options{keychain: authn.DefaultKeychain, timeout: DefaultTimeout, delays: retryDelays}
	for _, opt := range opts {
		opt(&o)
	}
	inner := o.transport
	if inner == nil {
		// A transport of its own, so its connections die with the client's users.
		inner = remote.DefaultTransport.(*http.Transport).Clone()
	}
	hosts := make([]string, 0, len(o.insecure))
	for _, h := range o.insecure {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	c := &Client{insecure: hosts, keychain: o.keychain, userAgent: o.userAgent, timeout: o.timeout}
	c.rt = &retryTransport{inner: inner, insecure: hosts, timeout: o.timeout, delays: o.delays}
	return c
}

// TimeoutFromEnv reads SOVOS_REGISTRY_TIMEOUT: DefaultTimeout when it is unset or
// empty, an error saying what is wrong when it is not a positive Go duration.
func TimeoutFromEnv() (time.Duration, error) {
	v := strings.TrimSpace(os.Getenv(TimeoutEnv))
	if v == "" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration: write it as Go does, e.g. 30s, 90s or 2m (default %s)", TimeoutEnv, v, DefaultTimeout)
	}
	return d, nil
}

// Timeout is the client's request deadline.
func (c *Client) Timeout() time.Duration { return c.timeout }

// InsecureHosts returns the registries spoken to in plain HTTP, e.g. for a BuildKit
// daemon's push attributes.
func (c *Client) InsecureHosts() []string { return append([]string(nil), c.insecure...) }

// Insecure reports whether ref (an image reference or a repository) lives on a
// registry spoken to in plain HTTP.
func (c *Client) Insecure(ref string) bool { return Insecure(c.insecure, ref) }

// Insecure reports whether ref (an image reference or a repository) lives on one of
// hosts, the plain-HTTP registries (insecure_registries). This is the only place sovos
// answers that question: loopback and private addresses are plain HTTP only when
// listed, like any other.
func Insecure(hosts []string, ref string) bool {
	return listed(hosts, registryOf(ref))
}

// registryOf returns the registry host of ref by Docker's rule: the first path
// component when it looks like a host (a dot, a colon, or localhost), else Docker Hub.
func registryOf(ref string) string {
	if r, err := name.ParseReference(ref); err == nil {
		return r.Context().RegistryStr()
	}
	if r, err := name.NewRepository(ref); err == nil {
		return r.RegistryStr()
	}
	host, _, _ := strings.Cut(ref, "/")
	return host
}

// listed reports whether host is one of hosts (compared as registries: case does not
// matter, and docker.io is index.docker.io).
func listed(hosts []string, host string) bool {
	if host == "" {
		return false
	}
	for _, h := range hosts {
		if strings.EqualFold(h, host) {
			return true
		}
		if r, err := name.NewRegistry(h); err == nil && strings.EqualFold(r.RegistryStr(), host) {
			return true
		}
	}
	return false
}

// nameOptions makes go-containerregistry try plain HTTP for a listed registry (it
// would otherwise try HTTPS only for a host that is not loopback or private).
func (c *Client) nameOptions(ref string) []name.Option {
	if c.Insecure(ref) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseReference parses an image reference (repo:tag or repo@digest).
func (c *Client) ParseReference(ref string) (name.Reference, error) {
	return name.ParseReference(ref, c.nameOptions(ref)...)
}

// NewRepository parses a repository (registry/path, no tag or digest).
func (c *Client) NewRepository(repo string) (name.Repository, error) {
	return name.NewRepository(repo, c.nameOptions(repo)...)
}

// NewTag parses repo:tag.
func (c *Client) NewTag(ref string) (name.Tag, error) {
	return name.NewTag(ref, c.nameOptions(ref)...)
}

// NewDigest parses repo@digest.
func (c *Client) NewDigest(ref string) (name.Digest, error) {
	return name.NewDigest(ref, c.nameOptions(ref)...)
}

// Options returns the remote.Options of a call made with ctx: the client's transport
// and credentials, with go-containerregistry's own retries replaced by the client's
// (see the package comment), then extra.
func (c *Client) Options(ctx context.Context, extra ...remote.Option) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(c.rt),
		remote.WithAuthFromKeychain(c.keychain),
		// go-containerregistry wraps the transport in a retry of its own and retries
		// whole uploads; the transport already retries every request, so its status
		// retries are off and only an upload whose body was cut off restarts, on the
		// client's schedule.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(restartUpload),
		remote.WithRetryBackoff(uploadBackoff(c.rt.delays)),
	}
	if c.userAgent != "" {
		opts = append(opts, remote.WithUserAgent(c.userAgent))
	}
	return append(opts, extra...)
}

// LockSubject serialises, within this process, the pushes of referrers of one subject
// (a manifest, repository@digest) and returns the function that releases it. A push
// of a manifest with a subject rewrites the subject's referrers index where the
// registry has no referrers API (the sha256-<hex> tag of the OCI tag schema), a
// read-modify-write that two concurrent pushes would race on; hold the subject's lock
// around every such push. Other processes are kept out by the state lock.
func (c *Client) LockSubject(subject name.Digest) (unlock func()) {
	key := subject.Context().String() + "@" + subject.DigestStr()
	mu, _ := c.subjects.LoadOrStore(key, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	return m.Unlock
}
