// Package bkdriver is sovos's BuildKit driver: it runs builds on a BuildKit
// daemon through github.com/moby/buildkit/client and pushes their images,
// returning the digests the exporter reports. A Build solves a resource's
// primary target, its stage targets and its signing-certificate target in one
// BuildKit session, so steps they share (a kernel's key generation) run once.
package bkdriver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/connhelper"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc/codes"

	"github.com/urmanac/sovos/internal/oci"
)

// DefaultAddress is where a BuildKit daemon listens when neither a builder
// address nor $BUILDKIT_HOST says otherwise.
const DefaultAddress = "unix:///run/buildkit/buildkitd.sock"

// Driver is a connection to one BuildKit daemon. It is safe for concurrent
// Builds.
type Driver struct {
	addr         string
	c            *client.Client
	dockerConfig *configfile.ConfigFile
	insecure     []string
}

// Option configures New.
type Option func(*options)

type options struct {
	dockerConfigDir string
	dockerConfig    *configfile.ConfigFile
	insecure        []string
	connectTimeout  time.Duration
	tls             *tlsFiles
	logger          hclog.Logger
}

type tlsFiles struct{ caCert, cert, key, serverName string }

// WithTLS connects to the daemon over TLS (a builder block's tls settings). An
// empty caCert trusts the system's CAs; empty cert and key mean server
// authentication only; an empty serverName verifies the address's host.
func WithTLS(caCert, cert, key, serverName string) Option {
	return func(o *options) { o.tls = &tlsFiles{caCert: caCert, cert: cert, key: key, serverName: serverName} }
}

// clientOpts checks that the tls files can be read, so a wrong path is reported as
// such rather than as an unreachable daemon, and returns the client options.
func (t *tlsFiles) clientOpts() ([]client.ClientOpt, error) {
	for _, f := range []struct{ attr, path string }{{"ca_cert", t.caCert}, {"cert", t.cert}, {"key", t.key}} {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return nil, fmt.Errorf("tls %s: %w; fix the path in the builder's tls block (relative paths are from the configuration's directory)", f.attr, err)
		}
		fh.Close()
	}
	if (t.cert == "") != (t.key == "") {
		return nil, errors.New("tls: cert and key go together (a client certificate and its private key); set both or neither")
	}
	opt := client.WithServerConfig(t.serverName, t.caCert)
	if t.caCert == "" {
		opt = client.WithServerConfigSystem(t.serverName)
	}
	opts := []client.ClientOpt{opt}
	if t.cert != "" {
		opts = append(opts, client.WithCredentials(t.cert, t.key))
	}
	return opts, nil
}

// WithDockerConfigDir reads registry credentials from the Docker config in dir
// instead of $DOCKER_CONFIG or ~/.docker. BuildKit pushes and pulls ask sovos for
// credentials through the session, so the daemon needs none of its own.
func WithDockerConfigDir(dir string) Option {
	return func(o *options) { o.dockerConfigDir = dir }
}

// WithDockerConfig uses an already loaded Docker config for registry credentials.
func WithDockerConfig(cfg *configfile.ConfigFile) Option {
	return func(o *options) { o.dockerConfig = cfg }
}

// WithInsecureRegistries marks registries (host[:port]) that are spoken to over
// plain HTTP for every push and cache export of this driver (SPEC
// insecure_registries; pass the oci.Client's InsecureHosts, so BuildKit and sovos's
// own calls agree). Pulls from them are the daemon's business: its buildkitd.toml
// needs [registry."HOST"] http = true.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *options) { o.insecure = append(o.insecure, hosts...) }
}

// WithLogger receives, at debug level, what BuildKit's session logs through Go's
// standard logger (see New). Without it, that goes nowhere.
func WithLogger(l hclog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithConnectTimeout bounds how long New waits for the daemon to answer (default 20s).
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// New connects to the BuildKit daemon at address (default $BUILDKIT_HOST, else
// DefaultAddress) and checks that it answers, so an unreachable daemon is
// reported before any work starts.
func New(ctx context.Context, address string, opts ...Option) (*Driver, error) {
	o := options{connectTimeout: 20 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if address == "" {
		address = os.Getenv("BUILDKIT_HOST")
	}
	if address == "" {
		address = DefaultAddress
	}

	unreachable := func(err error) error {
		if isTLSError(err) {
			return fmt.Errorf("cannot reach BuildKit daemon at %s: %w; check the builder's tls block (ca_cert must be the CA that signed the daemon's --tlscert, server_name a name in that certificate, cert and key a client certificate the daemon's --tlscacert trusts)", address, err)
		}
		return fmt.Errorf("cannot reach BuildKit daemon at %s: %w; start buildkitd there, or set the builder's address (or BUILDKIT_HOST) to a running daemon", address, err)
	}
	if err := CheckAddress(address); err != nil {
		return nil, err
	}
	routeStandardLog(o.logger)
	var clientOpts []client.ClientOpt
	if o.tls != nil {
		var err error
		if clientOpts, err = o.tls.clientOpts(); err != nil {
			return nil, fmt.Errorf("BuildKit daemon at %s: %w", address, err)
		}
	}
	c, err := client.New(ctx, address, clientOpts...)
	if err != nil {
		return nil, unreachable(err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	if _, err := c.ListWorkers(pingCtx); err != nil {
		c.Close()
		return nil, unreachable(simplifyGRPCError(err))
	}

	cfg := o.dockerConfig
	if cfg == nil {
		if o.dockerConfigDir != "" {
			cfg, err = config.Load(o.dockerConfigDir)
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("loading Docker config from %s: %w", o.dockerConfigDir, err)
			}
		} else {
			// Warnings about a malformed config go nowhere: pushes then simply run
			// without credentials and fail with the registry's own message.
			cfg = config.LoadDefaultConfigFile(io.Discard)
		}
	}
	return &Driver{addr: address, c: c, dockerConfig: cfg, insecure: o.insecure}, nil
}

// routeStandardLog sends Go's standard logger to l at debug level (nowhere when l is
// nil). BuildKit's session serves its gRPC through golang.org/x/net/http2 without an
// ErrorLog, so the http2 server logs with log.Printf: when a daemon refuses a solve (an
// entitlement it does not allow) and drops the session, "http2: server connection
// error from localhost: connection error: PROTOCOL_ERROR" would otherwise land on the
// user's terminal, with no resource or advice in it. The standard logger is the
// process's own; sovos itself never writes to it.
func routeStandardLog(l hclog.Logger) {
	if l == nil {
		log.SetOutput(io.Discard)
		return
	}
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(l.Named("buildkit-session").StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}))
}

// Address is the daemon address the driver is connected to.
func (d *Driver) Address() string { return d.addr }

// Client exposes the underlying BuildKit client (e.g. for DiskUsage or Prune).
func (d *Driver) Client() *client.Client { return d.c }

// Close closes the connection to the daemon.
func (d *Driver) Close() error { return d.c.Close() }

func (d *Driver) authProvider() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(d.dockerConfig),
	})
}

// isInsecure reports whether ref (an image or repository reference) lives in a
// plain-HTTP registry, the driver's or extra; sovos's one answer to that question
// (oci.Insecure) decides.
func (d *Driver) isInsecure(ref string, extra []string) bool {
	return oci.Insecure(slices.Concat(d.insecure, extra), ref)
}

// explain adds what a user needs to know to a build error: an interrupt is
// not a build failure, and a dropped connection means the daemon died or became
// unreachable.
func (d *Driver) explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		// BuildKit reports cancellation as a gRPC status; give callers the
		// context's own error so errors.Is(err, context.Canceled) holds.
		return fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if grpcerrors.Code(err) == codes.Unavailable && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("lost the connection to the BuildKit daemon at %s (did it stop or crash?): %w", d.addr, err)
	}
	return err
}

// CheckAddress rejects an address the BuildKit client cannot dial, which it would
// otherwise report as a DNS failure of "tcp///HOST". validate asks it too, through
// config.EvalOptions.CheckBuilderAddress.
func CheckAddress(address string) error {
	u, err := url.Parse(address)
	if err == nil {
		switch {
		case u.Scheme == "tcp" && u.Hostname() != "" && u.Port() != "":
			return nil
		case u.Scheme == "unix" && u.Path != "":
			return nil
		}
		if h, err := connhelper.GetConnectionHelper(address); err == nil && h != nil {
			return nil
		}
	}
	return fmt.Errorf("BuildKit daemon address %q: not an address sovos can dial; use unix:///PATH, tcp://HOST:PORT, docker-container://NAME, podman-container://NAME, nerdctl-container://NAME, kube-pod://POD or ssh://USER@HOST", address)
}

// isTLSError tells a failed TLS handshake (an unknown CA, a wrong server name, a
// missing client certificate) from a daemon that is not there. gRPC flattens the
// error to a string, so the string is all there is to go by.
func isTLSError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"tls:", "x509:", "authentication handshake failed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// simplifyGRPCError strips gRPC's "rpc error: code = Unavailable desc =" framing,
// which says nothing to a user.
func simplifyGRPCError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := err.Error()
	if _, desc, ok := strings.Cut(msg, "desc = "); ok {
		desc = strings.Trim(desc, `"`)
		desc = strings.TrimPrefix(desc, "transport: Error while dialing: ")
		return errors.New(desc)
	}
	return err
}
