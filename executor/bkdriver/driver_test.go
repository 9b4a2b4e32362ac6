package bkdriver

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

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
