package bkdriver

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

// startAuthRegistry runs the CNCF registry with htpasswd authentication
// (user/password) and returns its host.
func startAuthRegistry(t *testing.T, user, password string) string {
	t.Helper()
	bin, err := exec.LookPath(testenv.RegistryBinary)
	if err != nil {
		testenv.SkipOrFail(t, "docker-registry is not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"htpasswd": user + ":" + string(hash) + "\n",
		"config.yml": fmt.Sprintf(`version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: %s}}
auth: {htpasswd: {realm: sovos-test, path: %s}}
http: {addr: %s}
`, filepath.Join(dir, "data"), filepath.Join(dir, "htpasswd"), host),
	})
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	out, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		out.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return host
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("the registry did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BuildKit pushes with the credentials of the Docker config sovos reads,
// handed over through the session; the daemon itself has none.
func TestBuildPushUsesDockerConfigCredentials(t *testing.T) {
	const user, password = "sovos", "hunter2-but-longer"
	host := startAuthRegistry(t, user, password)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))

	withCreds := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	writeFiles(t, withCreds, map[string]string{
		"config.json": fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth),
	})
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x"})
	req := Request{Address: "extension.private", ContextDir: src, Image: host + "/private/ext", Tag: "t"}

	for _, tt := range []struct {
		name      string
		configDir string
		wantErr   string
	}{
		{"no credentials", t.TempDir(), "401 Unauthorized"},
		{"docker config", withCreds, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(context.Background(), bk.Addr, WithInsecureRegistries(host), WithDockerConfigDir(tt.configDir))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			res, err := d.Build(context.Background(), req, nil)
			if tt.wantErr != "" {
				t.Logf("error: %v", err)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.Digest, "sha256:") {
				t.Errorf("digest %q", res.Digest)
			}
		})
	}
}
