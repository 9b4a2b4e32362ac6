// Command gen rebuilds the imager-init binaries embedded in package imagerinit:
//
//	go generate ./internal/imagerinit
//
// It builds ./helper for every architecture a Talos profile has (static, stripped,
// without build id), gzips each without a timestamp, and records the SHA-256 of the
// helper's source, which a test compares with the source in the tree.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	log.SetFlags(0)
	src, err := os.ReadFile(filepath.Join("helper", "main.go"))
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "imager-init")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(tmp, arch)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, "./helper")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("building imager-init for %s: %v", arch, err)
		}
		bin, err := os.ReadFile(out)
		if err != nil {
			log.Fatal(err)
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := zw.Write(bin); err != nil {
			log.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			log.Fatal(err)
		}
		name := filepath.Join("bin", "imager-init-linux-"+arch+".gz")
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d bytes (%d gzipped)\n", name, len(bin), buf.Len())
	}
	sum := sha256.Sum256(src)
	if err := os.WriteFile(filepath.Join("bin", "SOURCE"), []byte(hex.EncodeToString(sum[:])+"  helper/main.go\n"), 0o644); err != nil {
		log.Fatal(err)
	}
}
