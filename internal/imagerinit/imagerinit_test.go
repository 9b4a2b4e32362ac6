package imagerinit

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The embedded binaries were built from the helper's source as it is in the tree.
func TestBinariesMatchTheSource(t *testing.T) {
	src, err := os.ReadFile("helper/main.go")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got, _, _ := strings.Cut(Source, " "); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("helper/main.go changed since the embedded imager-init was built (bin/SOURCE says %s); run `go generate ./internal/imagerinit`", got)
	}
}

// Each binary is a static executable for its architecture: it runs in any imager image.
func TestBinaries(t *testing.T) {
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	if got := strings.Join(Arches(), " "); got != "amd64 arm64" {
		t.Errorf("Arches() = %q", got)
	}
	for arch, machine := range want {
		bin, err := Binary(arch)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Machine != machine || f.Type != elf.ET_EXEC {
			t.Errorf("%s: machine %v type %v", arch, f.Machine, f.Type)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked", arch)
			}
		}
	}
	if _, err := Binary("riscv64"); err == nil || !strings.Contains(err.Error(), "linux/riscv64 (it has amd64, arm64)") {
		t.Errorf("Binary(riscv64) = %v", err)
	}
}
