package testenv

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Ext2File reads the file at path (e.g. "profile.yaml", "boot/vmlinuz") from the ext2
// filesystem image img, as a boot-media test checks what an imager wrote without
// mounting anything: loop devices are the host's, and other tests are using them. It
// reads direct and singly indirect blocks, enough for small files.
func Ext2File(t testing.TB, img io.ReaderAt, path string) []byte {
	t.Helper()
	data, err := readExt2(img, path)
	if err != nil {
		t.Fatalf("reading %s from the ext2 image: %v", path, err)
	}
	return data
}

type ext2 struct {
	r          io.ReaderAt
	blockSize  int64
	inodeSize  int64
	perGroup   uint32
	firstBlock uint32
}

func readExt2(img io.ReaderAt, path string) ([]byte, error) {
	sb := make([]byte, 1024)
	if _, err := img.ReadAt(sb, 1024); err != nil {
		return nil, fmt.Errorf("superblock: %w", err)
	}
	le := binary.LittleEndian
	if magic := le.Uint16(sb[56:]); magic != 0xEF53 {
		return nil, fmt.Errorf("not an ext2 filesystem (magic %#x)", magic)
	}
	fs := &ext2{r: img, blockSize: 1024 << le.Uint32(sb[24:]), inodeSize: 128,
		perGroup: le.Uint32(sb[40:]), firstBlock: le.Uint32(sb[20:])}
	if le.Uint32(sb[76:]) >= 1 { // dynamic revision: the inode size is recorded
		fs.inodeSize = int64(le.Uint16(sb[88:]))
	}
	ino := uint32(2) // the root directory
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		dir, err := fs.file(ino)
		if err != nil {
			return nil, err
		}
		next := uint32(0)
		for off := 0; off+8 <= len(dir); {
			recLen := int(le.Uint16(dir[off+4:]))
			nameLen := int(dir[off+6])
			if recLen < 8 || off+8+nameLen > len(dir) {
				break
			}
			if n := le.Uint32(dir[off:]); n != 0 && string(dir[off+8:off+8+nameLen]) == name {
				next = n
				break
			}
			off += recLen
		}
		if next == 0 {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		ino = next
	}
	return fs.file(ino)
}

// file returns the contents of inode n.
func (fs *ext2) file(n uint32) ([]byte, error) {
	le := binary.LittleEndian
	group, index := (n-1)/fs.perGroup, (n-1)%fs.perGroup
	gd := make([]byte, 32)
	if _, err := fs.r.ReadAt(gd, int64(fs.firstBlock+1)*fs.blockSize+int64(group)*32); err != nil {
		return nil, fmt.Errorf("group descriptor %d: %w", group, err)
	}
	inode := make([]byte, fs.inodeSize)
	if _, err := fs.r.ReadAt(inode, int64(le.Uint32(gd[8:]))*fs.blockSize+int64(index)*fs.inodeSize); err != nil {
		return nil, fmt.Errorf("inode %d: %w", n, err)
	}
	size := int64(le.Uint32(inode[4:]))
	var blocks []uint32
	for i := 0; i < 12; i++ {
		blocks = append(blocks, le.Uint32(inode[40+4*i:]))
	}
	if ind := le.Uint32(inode[40+4*12:]); ind != 0 {
		buf := make([]byte, fs.blockSize)
		if _, err := fs.r.ReadAt(buf, int64(ind)*fs.blockSize); err != nil {
			return nil, err
		}
		for i := int64(0); i < fs.blockSize/4; i++ {
			blocks = append(blocks, le.Uint32(buf[4*i:]))
		}
	}
	if max := int64(len(blocks)) * fs.blockSize; size > max {
		return nil, fmt.Errorf("inode %d: %d bytes, more than this reader follows (%d)", n, size, max)
	}
	out := make([]byte, 0, size)
	for _, b := range blocks {
		if int64(len(out)) >= size {
			break
		}
		buf := make([]byte, min(fs.blockSize, size-int64(len(out))))
		if b != 0 { // a hole reads as zeros
			if _, err := fs.r.ReadAt(buf, int64(b)*fs.blockSize); err != nil {
				return nil, err
			}
		}
		out = append(out, buf...)
	}
	return out, nil
}
