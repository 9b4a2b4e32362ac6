package verify_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
)

// BenchmarkCheckImage checks a one-module extension image: a normal 4 MiB module, plain
// and gzipped, and the 1 MiB gzip bomb of issue 12. B/op is what the check allocates in
// all, an upper bound of the heap it needs.
//
//	go test ./executor/verify -run '^$' -bench CheckImage -benchtime 5x
func BenchmarkCheckImage(b *testing.B) {
	key, cert := modsigntest.NewKey(b)
	signed := modsigntest.SignModule(b, bytes.Repeat([]byte("module text "), 4<<20/12), key, cert)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(signed)
	w.Close()
	for _, c := range []struct {
		name, file string
		data       []byte
	}{
		{"4MiB.ko", "m.ko", signed},
		{"4MiB.ko.gz", "m.ko.gz", gz.Bytes()},
		{"gzip-bomb.ko.gz", "m.ko.gz", gzipBomb(b)},
	} {
		img, err := mutate.AppendLayers(empty.Image, layer(b, entry{name: "rootfs/" + c.file, body: c.data}))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rep, err := verify.CheckImage(context.Background(), img, cert)
				if err != nil || len(rep.Modules) != 1 {
					b.Fatal(rep, err)
				}
			}
		})
	}
}
