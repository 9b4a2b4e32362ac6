package verify

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The xz container (https://tukaani.org/xz/xz-file-format-1.2.1.txt) is read here rather
// than by github.com/ulikunitz/xz's Reader because that reader allocates whatever
// dictionary a block header asks for, up to 4 GiB, with no way to refuse it. Only the
// LZMA2 data itself is decoded by that library (lzma.Reader2), once the dictionary size
// has been checked. Like kmod, concatenated streams and stream padding are accepted;
// filters other than LZMA2 (the BCJ filters) are not, as kernel modules never use them.

var (
	xzMagic     = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	xzFooterEnd = []byte{'Y', 'Z'}
	crc64Table  = crc64.MakeTable(crc64.ECMA)
)

const lzma2FilterID = 0x21

// xzReader decompresses an xz file, refusing a dictionary larger than maxDict.
type xzReader struct {
	in      *countingReader
	maxDict int64

	check   byte        // the current stream's check type
	flags   [2]byte     // the current stream's flags, repeated in its footer
	records [][2]uint64 // unpadded and uncompressed size of each block of the stream

	block  io.Reader // LZMA2 data of the current block, nil between blocks
	sum    hash.Hash // the block's check, over its uncompressed data
	hdr    xzBlockHeader
	start  int64 // input offset where the block's compressed data starts
	outN   uint64
	done   bool
	nblock int
}

type xzBlockHeader struct {
	size                int // header size in bytes
	compressed, uncompr uint64
	hasComp, hasUncompr bool
	dict                int64
}

// countingReader is a buffered reader that counts what was consumed.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func newXZReader(r io.Reader, maxDict int64) (*xzReader, error) {
	x := &xzReader{in: &countingReader{r: bufio.NewReader(r)}, maxDict: maxDict}
	if err := x.readStreamHeader(); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return x, nil
}

func (x *xzReader) Read(p []byte) (int, error) {
	for {
		if x.done {
			return 0, io.EOF
		}
		if x.block == nil {
			if err := x.next(); err != nil {
				return 0, err
			}
			continue
		}
		n, err := x.block.Read(p)
		if n > 0 {
			x.sum.Write(p[:n])
			x.outN += uint64(n)
			if x.hdr.hasUncompr && x.outN > x.hdr.uncompr {
				return 0, fmt.Errorf("xz: block %d holds more than the %d bytes its header declares", x.nblock, x.hdr.uncompr)
			}
		}
		if err == io.EOF {
			if err := x.endBlock(); err != nil {
				return n, err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			return n, fmt.Errorf("xz: block %d: %w", x.nblock, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// next reads what follows a block or a stream header: another block's header, or the
// index, the footer and whatever follows the stream.
func (x *xzReader) next() error {
	b, err := x.in.ReadByte()
	if err != nil {
		return fmt.Errorf("xz: %w", unexpected(err))
	}
	if b == 0 {
		if err := x.readIndexAndFooter(); err != nil {
			return err
		}
		return x.afterStream()
	}
	return x.startBlock(b)
}

func (x *xzReader) readStreamHeader() error {
	var h [12]byte
	n, err := io.ReadFull(x.in, h[:])
	if !bytes.HasPrefix(h[:n], xzMagic) || n < len(xzMagic) {
		return errors.New("xz: not an xz file (no xz magic)")
	}
	if err != nil {
		return fmt.Errorf("xz: stream header: %w", unexpected(err))
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return errors.New("xz: stream header checksum mismatch")
	}
	if h[6] != 0 || h[7]&0xf0 != 0 {
		return errors.New("xz: unsupported stream flags")
	}
	switch h[7] {
	case 0x00, 0x01, 0x04, 0x0a:
	default:
		return fmt.Errorf("xz: unsupported check type %#x", h[7])
	}
	x.flags = [2]byte{h[6], h[7]}
	x.check = h[7]
	x.records = x.records[:0]
	return nil
}

func (x *xzReader) newCheck() hash.Hash {
	switch x.check {
	case 0x01:
		return crc32.NewIEEE()
	case 0x04:
		return crc64.New(crc64Table)
	case 0x0a:
		return sha256.New()
	}
	return noCheck{}
}

// startBlock reads a block header whose first byte is b and starts decoding its data.
func (x *xzReader) startBlock(b byte) error {
	x.nblock++
	size := (int(b) + 1) * 4
	h := make([]byte, size)
	h[0] = b
	if _, err := io.ReadFull(x.in, h[1:]); err != nil {
		return unexpected(err)
	}
	if crc32.ChecksumIEEE(h[:size-4]) != binary.LittleEndian.Uint32(h[size-4:]) {
		return fmt.Errorf("xz: block %d: header checksum mismatch", x.nblock)
	}
	hdr, err := parseXZBlockHeader(h)
	if err != nil {
		return fmt.Errorf("xz: block %d: %w", x.nblock, err)
	}
	if hdr.dict > x.maxDict {
		return &dictionaryError{what: fmt.Sprintf("xz block %d asks for a %s dictionary", x.nblock, byteSize(hdr.dict)), limit: x.maxDict}
	}
	start := x.in.n
	dict := max(hdr.dict, int64(lzma.MinDictCap))
	r, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(x.in)
	if err != nil {
		return fmt.Errorf("xz: block %d: %w", x.nblock, err)
	}
	x.hdr, x.start, x.block, x.sum, x.outN = hdr, start, r, x.newCheck(), 0
	return nil
}

func parseXZBlockHeader(h []byte) (xzBlockHeader, error) {
	hdr := xzBlockHeader{size: len(h)}
	br := bytes.NewReader(h[2 : len(h)-4])
	flags := h[1]
	if flags&0x3c != 0 {
		return hdr, errors.New("reserved block flags set")
	}
	var err error
	if flags&0x40 != 0 {
		hdr.hasComp = true
		if hdr.compressed, err = readXZVarint(br); err != nil || hdr.compressed == 0 {
			return hdr, errors.New("bad compressed size in the block header")
		}
	}
	if flags&0x80 != 0 {
		hdr.hasUncompr = true
		if hdr.uncompr, err = readXZVarint(br); err != nil {
			return hdr, errors.New("bad uncompressed size in the block header")
		}
	}
	filters := int(flags&3) + 1
	for i := 0; i < filters; i++ {
		id, err := readXZVarint(br)
		if err != nil {
			return hdr, errors.New("bad filter flags in the block header")
		}
		n, err := readXZVarint(br)
		if err != nil || n > uint64(br.Len()) {
			return hdr, errors.New("bad filter properties in the block header")
		}
		props := make([]byte, n)
		io.ReadFull(br, props)
		if id != lzma2FilterID {
			return hdr, fmt.Errorf("filter %#x is not supported (kernel modules use LZMA2 alone)", id)
		}
		if i != filters-1 || len(props) != 1 || props[0] > 40 {
			return hdr, errors.New("bad LZMA2 filter properties")
		}
		hdr.dict = lzma2DictSize(props[0])
	}
	for br.Len() > 0 {
		if b, _ := br.ReadByte(); b != 0 {
			return hdr, errors.New("non-zero block header padding")
		}
	}
	return hdr, nil
}

// lzma2DictSize decodes the LZMA2 filter's dictionary-size byte (at most 40).
func lzma2DictSize(b byte) int64 {
	if b == 40 {
		return 1<<32 - 1
	}
	return int64(2|b&1) << (b/2 + 11)
}

// endBlock checks a block's sizes, padding and check once its LZMA2 data has ended.
func (x *xzReader) endBlock() error {
	comp := uint64(x.in.n - x.start)
	if x.hdr.hasComp && comp != x.hdr.compressed {
		return fmt.Errorf("xz: block %d: compressed size %d, its header says %d", x.nblock, comp, x.hdr.compressed)
	}
	if x.hdr.hasUncompr && x.outN != x.hdr.uncompr {
		return fmt.Errorf("xz: block %d: uncompressed size %d, its header says %d", x.nblock, x.outN, x.hdr.uncompr)
	}
	pad := make([]byte, (4-comp%4)%4)
	if _, err := io.ReadFull(x.in, pad); err != nil {
		return unexpected(err)
	}
	for _, b := range pad {
		if b != 0 {
			return fmt.Errorf("xz: block %d: non-zero padding", x.nblock)
		}
	}
	want := x.sum.Sum(nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(x.in, got); err != nil {
		return unexpected(err)
	}
	if x.check == 0x04 || x.check == 0x01 {
		// CRC32 and CRC64 are stored little-endian; hash.Hash sums are big-endian.
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("xz: block %d: check mismatch (the data is damaged)", x.nblock)
	}
	x.records = append(x.records, [2]uint64{uint64(x.hdr.size) + comp + uint64(len(want)), x.outN})
	x.block = nil
	return nil
}

// readIndexAndFooter reads the index (whose indicator byte was read) and the stream
// footer, and checks them against the blocks read.
func (x *xzReader) readIndexAndFooter() error {
	crc := crc32.NewIEEE()
	crc.Write([]byte{0})
	r := &teeByteReader{r: x.in, w: crc}
	n, err := readXZVarint(r)
	if err != nil || n != uint64(len(x.records)) {
		return errors.New("xz: the index does not list the stream's blocks")
	}
	for _, rec := range x.records {
		unpadded, err1 := readXZVarint(r)
		uncompr, err2 := readXZVarint(r)
		if err1 != nil || err2 != nil || unpadded != rec[0] || uncompr != rec[1] {
			return errors.New("xz: the index does not match the stream's blocks")
		}
	}
	size := 1 + r.n
	for ; size%4 != 0; size++ {
		if b, err := r.ReadByte(); err != nil || b != 0 {
			return errors.New("xz: bad index padding")
		}
	}
	var tail [16]byte // index CRC32, then the footer
	if _, err := io.ReadFull(x.in, tail[:]); err != nil {
		return unexpected(err)
	}
	if binary.LittleEndian.Uint32(tail[:4]) != crc.Sum32() {
		return errors.New("xz: index checksum mismatch")
	}
	f := tail[4:]
	if !bytes.Equal(f[10:], xzFooterEnd) || crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) {
		return errors.New("xz: bad stream footer")
	}
	if f[8] != x.flags[0] || f[9] != x.flags[1] {
		return errors.New("xz: stream footer flags differ from the header's")
	}
	if (int64(binary.LittleEndian.Uint32(f[4:8]))+1)*4 != size+4 {
		return errors.New("xz: stream footer gives the wrong index size")
	}
	return nil
}

// afterStream reads stream padding and the next stream, if any.
func (x *xzReader) afterStream() error {
	for {
		var b [4]byte
		n, err := io.ReadFull(x.in, b[:])
		if n == 0 && err == io.EOF {
			x.done = true
			return nil
		}
		if err != nil {
			return errors.New("xz: trailing data after the stream")
		}
		if b != [4]byte{} {
			x.in.r = bufio.NewReader(io.MultiReader(bytes.NewReader(b[:]), x.in.r))
			x.in.n -= 4
			return x.readStreamHeader()
		}
	}
}

func readXZVarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, errors.New("xz: non-minimal integer encoding")
			}
			return v, nil
		}
	}
	return 0, errors.New("xz: integer too long")
}

// teeByteReader counts the bytes read and writes them to w.
type teeByteReader struct {
	r io.ByteReader
	w io.Writer
	n int64
}

func (t *teeByteReader) ReadByte() (byte, error) {
	b, err := t.r.ReadByte()
	if err == nil {
		t.n++
		t.w.Write([]byte{b})
	}
	return b, err
}

type noCheck struct{}

func (noCheck) Write(p []byte) (int, error) { return len(p), nil }
func (noCheck) Sum(b []byte) []byte         { return b }
func (noCheck) Reset()                      {}
func (noCheck) Size() int                   { return 0 }
func (noCheck) BlockSize() int              { return 1 }

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
