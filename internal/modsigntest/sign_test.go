package modsigntest_test

import (
	"testing"

	"github.com/urmanac/sovos/internal/modsigntest"
)

func TestSignRejectsMismatchedKey(t *testing.T) {
	key, _ := modsigntest.NewKey(t)
	_, otherCert := modsigntest.NewKey(t)
	if _, err := modsigntest.Sign([]byte("m"), key, otherCert, modsigntest.SignOptions{}); err == nil {
		t.Fatal("Sign with a key that does not match the certificate: no error")
	}
}
