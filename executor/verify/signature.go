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

// Parse splits a (decompressed) module into its content and its appended signature and
// parses the PKCS#7 SignedData. A module without the trailer gives ErrUnsigned; a damaged
// trailer or PKCS#7 gives another error saying what is wrong. Parse never panics.
func Parse(module []byte) (*Signature, error) {
	if !bytes.HasSuffix(module, []byte(Magic)) {
		return nil, ErrUnsigned
	}
	rest := module[:len(module)-len(Magic)]
	if len(rest) < infoSize {
		return nil, fmt.Errorf("signature trailer truncated: %d bytes before the marker, need %d for the signature info", len(rest), infoSize)
	}
	info := rest[len(rest)-infoSize:]
	rest = rest[:len(rest)-infoSize]

	// The same checks as the kernel's mod_check_sig.
	algo, hash, idType, signerLen, keyIDLen := info[0], info[1], info[2], info[3], info[4]
	sigLen := binary.BigEndian.Uint32(info[8:12])
	if idType != idPKCS7 {
		return nil, fmt.Errorf("signature info: id_type %d is not PKCS#7 (%d); the kernel accepts only PKCS#7 module signatures", idType, idPKCS7)
	}
	if sigLen == 0 {
		return nil, errors.New("signature info: sig_len is 0")
	}
	// Like the kernel, insist on at least one byte of module before the signature.
	if uint64(sigLen) >= uint64(len(rest)) {
		return nil, fmt.Errorf("signature trailer truncated: sig_len %d but only %d bytes precede the signature info", sigLen, len(rest))
	}
	if algo != 0 || hash != 0 || signerLen != 0 || keyIDLen != 0 || info[5] != 0 || info[6] != 0 || info[7] != 0 {
		return nil, fmt.Errorf("signature info: algo, hash, signer_len, key_id_len and padding must be zero for PKCS#7, got % x", info[:8])
	}

	cut := len(rest) - int(sigLen)
	sig := &Signature{Content: rest[:cut], PKCS7: rest[cut:]}
	signers, err := ParsePKCS7(sig.PKCS7)
	if err != nil {
		return nil, err
	}
	sig.Signers = signers
	return sig, nil
}
