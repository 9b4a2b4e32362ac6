package views

import (
	"fmt"
	"io"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/pin"
)

// Fetched writes what `sovos fetch ADDRESS` fetched (or where apply exported the files
// of a profile without an image): one line per file with its size and digest.
func Fetched(w io.Writer, addr string, res *bootmedia.Result) {
	switch {
	case res.Local && res.From != "":
		fmt.Fprintf(w, "%s publishes no artifact (it has no image); copied the files apply exported to %s into %s:\n", addr, res.From, res.Dir)
	case res.Local:
		fmt.Fprintf(w, "%s publishes no artifact (it has no image); apply exported its files to %s:\n", addr, res.Dir)
	default:
		fmt.Fprintf(w, "Fetched %s into %s:\n", res.Ref, res.Dir)
	}
	for _, f := range res.Files {
		line := fmt.Sprintf("  %s  %s", f.Name, humanBytes(f.Size))
		if f.Digest != "" {
			line += "  " + f.Digest
		}
		fmt.Fprintln(w, line)
	}
}

// humanBytes writes a size the way ls -h does, with the exact count for small ones.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Pinned writes what `sovos pin` changed, one line each, and a summary line. With
// check, nothing was changed: the lines are the pins that are missing or behind, and
// the summary (written only when all are current) goes to w as well; the command says
// what to run about the others.
func Pinned(w io.Writer, res *pin.Result, upgrade, check bool) {
	for _, ch := range res.Changes {
		fmt.Fprintln(w, ch.String())
	}
	n := len(res.Changes)
	switch {
	case check && n > 0:
	case check:
		fmt.Fprintln(w, "Every pin is current.")
	case len(res.LeftOut) > 0:
		fmt.Fprintf(w, "Pinned %s in %s; %s left out (see the warnings).\n", Count(n, "change", "changes"),
			Count(len(res.Files), "file", "files"), Count(len(res.LeftOut), "pin", "pins"))
	case n > 0:
		fmt.Fprintf(w, "Pinned %s in %s.\n", Count(n, "change", "changes"), Count(len(res.Files), "file", "files"))
	case upgrade:
		fmt.Fprintln(w, "Every pin is current.")
	default:
		fmt.Fprintln(w, "No pin is missing. (`sovos pin -upgrade` moves every pin to what its ref points at now.)")
	}
}

// Count writes "1 one" or "N many".
func Count(n int, one, many string) string { return fmt.Sprintf("%d %s", n, plural(n, one, many)) }

// plural is one or many, as n is 1 or not.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
