package verify

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertificate reads a module-signing certificate in PEM (the kernel's
// signing_key.pem or certs/signing_key.x509 converted) or DER (certs/signing_key.x509 as
// the kernel build writes it). A PEM file may hold the private key too; only its first
// CERTIFICATE block is used.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("certificate: empty input")
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				return nil, errors.New("certificate: PEM input holds no CERTIFICATE block")
			}
			if block.Type == "CERTIFICATE" {
				cert, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("certificate: %w", err)
				}
				return cert, nil
			}
		}
	}
	cert, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("certificate: not PEM, and not DER either: %w", err)
	}
	return cert, nil
}
