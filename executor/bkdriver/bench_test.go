package bkdriver

import (
	"context"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/tonistiigi/fsutil"
)

// BenchmarkBuildOverhead compares a cached build pushed through Driver.Build
// (own session, gateway build, progress forwarding) with the same build issued
// directly as one client.Solve through the Dockerfile frontend. Both re-run the
// frontend and re-push the (existing) image each iteration; the difference is
// the driver's own cost per build.
func BenchmarkBuildOverhead(b *testing.B) {
	e := newEnv(b)
	src := b.TempDir()
	writeFiles(b, src, map[string]string{
		"Dockerfile": "FROM scratch AS build\nCOPY a.txt /a.txt\n\nFROM scratch\nCOPY --from=build /a.txt /b.txt\n",
		"a.txt":      "payload\n",
	})
	image := e.registry + "/bench/overhead"
	ctx := context.Background()

	b.Run("driver", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			ch := make(chan *client.SolveStatus)
			go drain(ch)
			_, err := e.driver.Build(ctx, Request{Address: "kernel.bench", ContextDir: src, Image: image, Tag: "driver"}, ch)
			close(ch)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client", func(b *testing.B) {
		fs, err := fsutil.NewFS(src)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			ch := make(chan *client.SolveStatus)
			go drain(ch)
			_, err := e.driver.Client().Solve(ctx, nil, client.SolveOpt{
				Frontend:      "dockerfile.v0",
				FrontendAttrs: map[string]string{"filename": "Dockerfile"},
				LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
				Session:       []session.Attachable{e.driver.authProvider()},
				Exports:       []client.ExportEntry{imageExport(image+":client", nil, true)},
			}, ch)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func drain(ch chan *client.SolveStatus) {
	for range ch {
	}
}
