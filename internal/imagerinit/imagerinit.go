// Package imagerinit holds imager-init (./helper), the static helper sovos mounts into
// a profile's imager step: it mounts the host's devices at /dev and runs the imager
// with the profile on its standard input. It is prebuilt for each architecture a Talos
// profile has and embedded, so sovos needs no Go toolchain and the imager image no shell;
// `go generate ./internal/imagerinit` rebuilds it after a change to ./helper.
package imagerinit

//go:generate go run ./gen

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"sort"
	"strings"
)

//go:embed bin/*.gz
var bins embed.FS

// Source is the SHA-256 of the helper's source the binaries were built from (bin/SOURCE).
//
//go:embed bin/SOURCE
var Source string

// Binary returns imager-init for linux/arch (amd64, arm64).
func Binary(arch string) ([]byte, error) {
	gz, err := bins.ReadFile("bin/imager-init-linux-" + arch + ".gz")
	if err != nil {
		return nil, fmt.Errorf("sovos has no imager-init for linux/%s (it has %s): the imager image must be one of those architectures", arch, strings.Join(Arches(), ", "))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("imager-init for %s: %w", arch, err)
	}
	return io.ReadAll(zr)
}

// Arches lists the architectures imager-init is built for.
func Arches() []string {
	entries, _ := bins.ReadDir("bin")
	var out []string
	for _, e := range entries {
		if a, ok := strings.CutPrefix(e.Name(), "imager-init-linux-"); ok {
			out = append(out, strings.TrimSuffix(a, ".gz"))
		}
	}
	sort.Strings(out)
	return out
}
