package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/urfave/cli/v2"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/pin"
)

func pinCommand() *cli.Command {
	return &cli.Command{
		Name:  "pin",
		Usage: "write the commit of each git source and the digest of each image from their refs",
		UsageText: "sovos [-chdir=DIR] pin [-upgrade] [-check] [-var NAME=VALUE]... [-var-file FILE]... [ADDR]...\n\n" +
			"Without flags, fills the missing pins only. -upgrade moves every pin to what its ref\n" +
			"points at now; -check changes nothing and exits 2 when a pin is missing or behind.\n" +
			"ADDR (source.NAME, image.NAME) limits the run to those blocks.",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "upgrade", Usage: "move every pin to what its ref points at now"},
			&cli.BoolFlag{Name: "check", Usage: "change nothing; exit 2 when a pin is missing or behind its ref"},
		}, varFlags()...),
		Action: pinAction,
	}
}

func pinAction(c *cli.Context) error {
	opts := evalOptions(c, nil)
	opts.Pinning = true
	cfg, diags := config.Load(c.Context, configDir(c), opts)
	if diags.HasErrors() {
		writeDiags(c, cfg.Files, diags)
		return cli.Exit("", 1)
	}
	res, ds := pin.Run(c.Context, pin.Request{
		Config:  cfg,
		Addrs:   c.Args().Slice(),
		Upgrade: c.Bool("upgrade"),
		Check:   c.Bool("check"),
		Images:  imageDigests(cfg.Settings),
	})
	writeDiags(c, cfg.Files, append(diags, ds...))
	if ds.HasErrors() {
		return cli.Exit("", 1)
	}
	out := c.App.Writer
	for _, ch := range res.Changes {
		fmt.Fprintln(out, ch.String())
	}
	n := len(res.Changes)
	switch {
	case c.Bool("check") && n > 0:
		fmt.Fprintf(c.App.ErrWriter, "%s: run `sovos pin -upgrade` to move them (`sovos pin` fills only the missing).\n",
			count(n, "pin is missing or behind its ref", "pins are missing or behind their refs"))
		return cli.Exit("", 2)
	case c.Bool("check"):
		fmt.Fprintln(out, "Every pin is current.")
	case n > 0:
		fmt.Fprintf(out, "Pinned %s in %s.\n", count(n, "change", "changes"), count(len(res.Files), "file", "files"))
	case c.Bool("upgrade"):
		fmt.Fprintln(out, "Every pin is current.")
	default:
		fmt.Fprintln(out, "No pin is missing. (`sovos pin -upgrade` moves every pin to what its ref points at now.)")
	}
	return nil
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// imageDigests resolves image references with a registry HEAD (a GET where the registry
// gives no digest on HEAD) through the same client a refreshing plan uses: the Docker
// credentials, and plain HTTP only for insecure_registries.
func imageDigests(settings config.Settings) pin.ImageResolver {
	r := &hashing.ImageResolver{Refresh: true, Insecure: settings.InsecureRegistries}
	return pin.ImageFunc(func(ctx context.Context, ref string) (string, error) {
		d, err := r.Resolve(ctx, ref, "", "")
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return "", fmt.Errorf("%w: %w", pin.ErrNotFound, err)
		}
		return d, err
	})
}
