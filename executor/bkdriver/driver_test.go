package bkdriver

import (
	"bytes"
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/urmanac/sovos/internal/testenv"
)

// TestTLSFiles checks a builder's tls settings before any dial: a wrong path or a
// half client certificate is said plainly, not reported as an unreachable daemon.
func TestTLSFiles(t *testing.T) {
	pki := testenv.NewTLS(t, t.TempDir())
	missing := filepath.Join(t.TempDir(), "nope.pem")
	for _, tc := range []struct {
		name    string
		files   tlsFiles
		opts    int
		wantErr string
	}{
		{"mutual", tlsFiles{caCert: pki.CACert, cert: pki.ClientCert, key: pki.ClientKey, serverName: "x"}, 2, ""},
		{"server only", tlsFiles{caCert: pki.CACert}, 1, ""},
		{"system CAs", tlsFiles{cert: pki.ClientCert, key: pki.ClientKey}, 2, ""},
		{"missing ca_cert", tlsFiles{caCert: missing}, 0, "tls ca_cert: open " + missing},
		{"missing key", tlsFiles{caCert: pki.CACert, cert: pki.ClientCert, key: missing}, 0, "tls key: open " + missing},
		{"cert without key", tlsFiles{caCert: pki.CACert, cert: pki.ClientCert}, 0, "cert and key go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.files.clientOpts()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(opts) != tc.opts {
				t.Fatalf("got %d options, %v; want %d", len(opts), err, tc.opts)
			}
		})
	}
}

func TestIsTLSError(t *testing.T) {
	for msg, want := range map[string]bool{
		"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority": true,
		"remote error: tls: certificate required":                                    true,
		"dial unix /run/buildkit/buildkitd.sock: connect: no such file or directory": false,
		"dial tcp 127.0.0.1:1: connect: connection refused":                          false,
	} {
		if got := isTLSError(errors.New(msg)); got != want {
			t.Errorf("isTLSError(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestCheckAddress(t *testing.T) {
	for addr, ok := range map[string]bool{
		"unix:///run/buildkit/buildkitd.sock": true,
		"tcp://arm-runner:1234":               true,
		"docker-container://buildkitd":        true,
		"podman-container://buildkitd":        true,
		"kube-pod://buildkitd-0":              true,
		"ssh://me@arm-runner":                 true,
		"foo://x":                             false,
		"tcp://arm-runner":                    false,
		"unix://":                             false,
		"arm-runner:1234":                     false,
		"/run/buildkit/buildkitd.sock":        false,
	} {
		if err := CheckAddress(addr); (err == nil) != ok {
			t.Errorf("CheckAddress(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

// What BuildKit's session logs through Go's standard logger (its http2 server's
// "PROTOCOL_ERROR" when a daemon drops a refused session) goes to the driver's logger at
// debug level, or nowhere: never to standard error as a bare Go log line.
func TestStandardLogRouted(t *testing.T) {
	t.Cleanup(func() {
		log.SetOutput(os.Stderr)
		log.SetFlags(log.LstdFlags)
	})
	const line = "http2: server connection error from localhost: connection error: PROTOCOL_ERROR"
	var buf bytes.Buffer
	l := hclog.New(&hclog.LoggerOptions{Name: "sovos", Level: hclog.Debug, Output: &buf})
	// The daemon need not answer: the routing is set up before the dial.
	_, err := New(context.Background(), "unix://"+filepath.Join(t.TempDir(), "none.sock"), WithLogger(l), WithConnectTimeout(time.Second))
	if err == nil {
		t.Fatal("connected to a socket that does not exist")
	}
	log.Print(line)
	if got := buf.String(); !strings.Contains(got, "[DEBUG] sovos.buildkit-session: "+line) {
		t.Errorf("the standard logger's line went elsewhere; the driver's log holds:\n%s", got)
	}

	// Not at debug level: nothing shows.
	buf.Reset()
	l = hclog.New(&hclog.LoggerOptions{Name: "sovos", Level: hclog.Info, Output: &buf})
	New(context.Background(), "unix://"+filepath.Join(t.TempDir(), "none.sock"), WithLogger(l), WithConnectTimeout(time.Second))
	log.Print(line)
	if buf.Len() != 0 {
		t.Errorf("at info level the line shows: %q", buf.String())
	}

	// No logger: dropped.
	var stderr bytes.Buffer
	log.SetOutput(&stderr)
	New(context.Background(), "unix://"+filepath.Join(t.TempDir(), "none.sock"), WithConnectTimeout(time.Second))
	log.Print(line)
	if stderr.Len() != 0 {
		t.Errorf("without a logger the line still goes to the standard logger's output: %q", stderr.String())
	}
}
