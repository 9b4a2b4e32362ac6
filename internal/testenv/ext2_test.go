package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The reader agrees with e2fsprogs: a filesystem made by mke2fs, filled by debugfs (no
// mount, no loop device), reads back byte for byte.
func TestExt2File(t *testing.T) {
	for _, tool := range []string{"mke2fs", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (e2fsprogs)", tool)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.raw")
	small := []byte("arch: \"arm64\"\n")
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // past the direct blocks
	for name, data := range map[string][]byte{"small": small, "big": big} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"mke2fs", "-q", "-t", "ext2", "-b", "1024", img, "8M"},
		{"debugfs", "-w", "-R", "mkdir boot", img},
		{"debugfs", "-w", "-R", "write " + filepath.Join(dir, "small") + " profile.yaml", img},
		{"debugfs", "-w", "-R", "write " + filepath.Join(dir, "big") + " boot/vmlinuz", img},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := Ext2File(t, f, "profile.yaml"); !bytes.Equal(got, small) {
		t.Errorf("profile.yaml = %q", got)
	}
	if got := Ext2File(t, f, "/boot/vmlinuz"); !bytes.Equal(got, big) {
		t.Errorf("boot/vmlinuz: %d bytes, want %d", len(got), len(big))
	}
	if _, err := readExt2(f, "nope"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := readExt2(bytes.NewReader(make([]byte, 4096)), "x"); err == nil || !strings.Contains(err.Error(), "not an ext2") {
		t.Errorf("not ext2: %v", err)
	}
}
