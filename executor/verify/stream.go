package verify

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// moduleStream is the writer a module is checked through, so that no module is ever
// read whole into one buffer. It holds a module of up to lim.spool bytes in chunks and
// can then hash its content with any digest. Past that it streams: the signature is
// appended (module ‖ PKCS#7 ‖ signature info ‖ marker) and at most MaxSignatureSize
// long, so all but the last maxTail bytes are signed content, and they go through the
// digests as they arrive; only the end is held until the module is whole.
//
// Which digest the signature uses is only known at the end, so a streamed module is
// hashed with the ones a kernel's modules are signed with: its certificate's own digest
// (the kernel build makes the certificate with CONFIG_MODULE_SIG_HASH, and sign-file
// signs with it), SHA-512 and SHA-256.
type moduleStream struct {
	cert *x509.Certificate
	lim  limits
	// n counts the bytes written; hashed counts those that went through digests.
	n, hashed int64
	// chunks hold the bytes not hashed yet, in order; the last one has spare capacity.
	chunks [][]byte
	held   int
	// spare is a drained chunk kept for reuse while streaming.
	spare []byte
	// digests is nil while the module is held whole.
	digests map[crypto.Hash]hash.Hash
}

const (
	firstChunk = 32 << 10
	maxChunk   = 1 << 20
)

func newModuleStream(cert *x509.Certificate, lim limits) *moduleStream {
	return &moduleStream{cert: cert, lim: lim}
}

func (s *moduleStream) Write(p []byte) (int, error) {
	if s.n+int64(len(p)) > s.lim.module {
		return 0, &tooLargeError{limit: s.lim.module}
	}
	s.n += int64(len(p))
	written := len(p)
	for len(p) > 0 {
		last := len(s.chunks) - 1
		if last < 0 || len(s.chunks[last]) == cap(s.chunks[last]) {
			s.chunks = append(s.chunks, s.newChunk())
			last++
		}
		c := s.chunks[last]
		k := min(len(p), cap(c)-len(c))
		s.chunks[last] = append(c, p[:k]...)
		s.held += k
		p = p[k:]
		s.drain()
	}
	return written, nil
}

// drain starts streaming once the module outgrows the spool, and then hashes whole
// chunks while what stays held still covers the largest signature.
func (s *moduleStream) drain() {
	if s.digests == nil {
		if s.held <= s.lim.spool {
			return
		}
		s.digests = map[crypto.Hash]hash.Hash{}
		for _, h := range streamDigests(s.cert) {
			s.digests[h] = h.New()
		}
	}
	for len(s.chunks) > 1 && s.held-len(s.chunks[0]) >= maxTail {
		c := s.chunks[0]
		s.hash(c)
		s.held -= len(c)
		s.chunks = s.chunks[1:]
		if cap(c) == maxChunk {
			s.spare = c[:0]
		}
	}
}

// newChunk returns a buffer for the next bytes: doubling sizes up to maxChunk, so a
// small module costs little and a large one is held in a few large pieces.
func (s *moduleStream) newChunk() []byte {
	if s.spare != nil {
		c := s.spare
		s.spare = nil
		return c
	}
	size := firstChunk
	if n := len(s.chunks); n > 0 {
		size = min(2*cap(s.chunks[n-1]), maxChunk)
	}
	return make([]byte, 0, size)
}

func (s *moduleStream) hash(p []byte) {
	for _, d := range s.digests {
		d.Write(p)
	}
	s.hashed += int64(len(p))
}

// end returns a copy of the last n held bytes.
func (s *moduleStream) end(n int) []byte {
	out := make([]byte, n)
	for i := len(s.chunks) - 1; i >= 0 && n > 0; i-- {
		c := s.chunks[i]
		k := min(n, len(c))
		copy(out[n-k:], c[len(c)-k:])
		n -= k
	}
	return out
}

// heldUpTo calls fn with the held bytes, in order, up to the absolute offset limit.
func (s *moduleStream) heldUpTo(limit int64, fn func([]byte)) {
	off := s.hashed
	for _, c := range s.chunks {
		if off >= limit {
			return
		}
		k := int(min(int64(len(c)), limit-off))
		fn(c[:k])
		off += int64(k)
	}
}

// verdict checks the module once it has been written whole, as CheckModule does.
func (s *moduleStream) verdict() Verdict {
	tail := s.end(min(s.held, maxTail))
	sigLen, err := parseTrailer(tail, s.n)
	if errors.Is(err, ErrUnsigned) {
		return Verdict{Kind: Unsigned, Detail: "no module signature appended"}
	}
	if err != nil {
		return invalid(err)
	}
	end := len(tail) - trailerSize
	signers, err := ParsePKCS7(tail[end-sigLen : end])
	if err != nil {
		return invalid(err)
	}
	content := s.n - int64(trailerSize+sigLen)
	if s.digests == nil {
		return checkSigners(signers, func(h crypto.Hash) ([]byte, error) {
			d := h.New()
			s.heldUpTo(content, func(p []byte) { d.Write(p) })
			return d.Sum(nil), nil
		}, s.cert)
	}
	s.heldUpTo(content, s.hash)
	return checkSigners(signers, s.digestOf, s.cert)
}

func (s *moduleStream) digestOf(h crypto.Hash) ([]byte, error) {
	if d, ok := s.digests[h]; ok {
		return d.Sum(nil), nil
	}
	var names []string
	for _, h := range streamDigests(s.cert) {
		names = append(names, h.String())
	}
	return nil, fmt.Errorf("it is signed with %v: sovos checks a module larger than %s only for %s (the kernel's CONFIG_MODULE_SIG_HASH); sign it with one of those",
		h, byteSize(int64(s.lim.spool)), strings.Join(names, ", "))
}

// streamDigests are the digests a streamed module is hashed with: the certificate's own,
// SHA-512 and SHA-256.
func streamDigests(cert *x509.Certificate) []crypto.Hash {
	out := []crypto.Hash{crypto.SHA512, crypto.SHA256}
	if cert == nil {
		return out
	}
	if h := certificateDigest(cert); h != 0 && h != crypto.SHA512 && h != crypto.SHA256 {
		out = append([]crypto.Hash{h}, out...)
	}
	return out
}

// certificateDigest is the digest of the certificate's own signature, read from its
// algorithm identifier (Go's x509 does not name the SHA-3 ones); 0 if there is none.
func certificateDigest(cert *x509.Certificate) crypto.Hash {
	var c struct {
		TBS    asn1.RawValue
		SigAlg pkix.AlgorithmIdentifier
		Sig    asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.Raw, &c); err != nil {
		return 0
	}
	for _, a := range signatureAlgorithms {
		if a.oid.Equal(c.SigAlg.Algorithm) {
			return a.hash
		}
	}
	return 0
}
