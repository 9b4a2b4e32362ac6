package verify

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic is the marker the kernel's sign-file appends after a module's signature.
const Magic = "~Module signature appended~\n"

// infoSize is the size of the kernel's struct module_signature (include/linux/module_signature.h).
const infoSize = 12

// idPKCS7 is PKEY_ID_PKCS7, the only id_type the kernel accepts for module signatures.
const idPKCS7 = 2

// ErrUnsigned is returned by Parse for a module that carries no signature trailer.
var ErrUnsigned = errors.New("module carries no signature")

// Signature is a module's appended signature, split from the module.
type Signature struct {
	// Content is the signed part of the module: every byte before the PKCS#7 blob.
	Content []byte
	// PKCS7 is the DER CMS SignedData, detached from Content.
	PKCS7 []byte
	// Signers are the signer infos of PKCS7.
	Signers []SignerInfo
}

// MaxSignatureSize bounds a module signature's sig_len. sign-file writes a few hundred
// bytes to a few KiB (no certificates); sovos holds at most this much of a module's end
// while it streams the rest, so a hostile sig_len cannot make it hold the whole module.
const MaxSignatureSize = 64 << 10

// trailerSize is what follows the PKCS#7 blob: the signature info and the marker.
const trailerSize = infoSize + len(Magic)

// maxTail is the most of a module's end that holds its signature: the PKCS#7 blob, the
// signature info and the marker.
const maxTail = MaxSignatureSize + trailerSize

// Parse splits a (decompressed) module into its content and its appended signature and
// parses the PKCS#7 SignedData. A module without the trailer gives ErrUnsigned; a damaged
// trailer or PKCS#7 gives another error saying what is wrong. Parse never panics.
func Parse(module []byte) (*Signature, error) {
	sigLen, err := parseTrailer(module, int64(len(module)))
	if err != nil {
		return nil, err
	}
	cut := len(module) - trailerSize - sigLen
	sig := &Signature{Content: module[:cut], PKCS7: module[cut : len(module)-trailerSize]}
	signers, err := ParsePKCS7(sig.PKCS7)
	if err != nil {
		return nil, err
	}
	sig.Signers = signers
	return sig, nil
}

// parseTrailer reads the signature info at the end of a module of size bytes, of which
// end holds the last ones (at least min(size, maxTail)), and returns the length of the
// PKCS#7 blob before it. It makes the same checks as the kernel's mod_check_sig, and
// refuses a blob larger than MaxSignatureSize.
func parseTrailer(end []byte, size int64) (int, error) {
	if !bytes.HasSuffix(end, []byte(Magic)) {
		return 0, ErrUnsigned
	}
	rest := size - int64(len(Magic))
	if rest < infoSize {
		return 0, fmt.Errorf("signature trailer truncated: %d bytes before the marker, need %d for the signature info", rest, infoSize)
	}
	info := end[len(end)-trailerSize : len(end)-len(Magic)]
	rest -= infoSize

	algo, hash, idType, signerLen, keyIDLen := info[0], info[1], info[2], info[3], info[4]
	sigLen := binary.BigEndian.Uint32(info[8:12])
	if idType != idPKCS7 {
		return 0, fmt.Errorf("signature info: id_type %d is not PKCS#7 (%d); the kernel accepts only PKCS#7 module signatures", idType, idPKCS7)
	}
	if sigLen == 0 {
		return 0, errors.New("signature info: sig_len is 0")
	}
	// Like the kernel, insist on at least one byte of module before the signature.
	if int64(sigLen) >= rest {
		return 0, fmt.Errorf("signature trailer truncated: sig_len %d but only %d bytes precede the signature info", sigLen, rest)
	}
	if algo != 0 || hash != 0 || signerLen != 0 || keyIDLen != 0 || info[5] != 0 || info[6] != 0 || info[7] != 0 {
		return 0, fmt.Errorf("signature info: algo, hash, signer_len, key_id_len and padding must be zero for PKCS#7, got % x", info[:8])
	}
	if sigLen > MaxSignatureSize {
		return 0, fmt.Errorf("signature info: sig_len %d is more than the %d bytes sovos reads (sign-file writes a few KiB)", sigLen, MaxSignatureSize)
	}
	return int(sigLen), nil
}
