package state

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/oci"
)

// A registry that is down is named, with what to check, not only Go's dial error.
func TestRegistryUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // nothing listens there any more
	b, err := NewRegistry(host+"/state", "main", WithClient(oci.New(oci.WithInsecure(host))))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = b.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach the registry "+host) {
		t.Fatalf("Read from a registry that is down: %v", err)
	}
}
