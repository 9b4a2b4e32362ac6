package verify

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// Links are followed as the kernel follows them when the module loader opens a path,
// but inside the image: an absolute target starts at the image's root, ".." stops there,
// and nothing on the host is ever looked at.
const (
	// maxLinkHops is Linux's MAXSYMLINKS: more links than this in one path is ELOOP.
	maxLinkHops = 40
	// maxLinkTarget is PATH_MAX: the kernel refuses a longer link target.
	maxLinkTarget = 4096
	// maxLinkBytes bounds the link names and targets held while walking an image.
	maxLinkBytes = 64 << 20
)

// linkTable holds every symbolic and hard link of an image's filesystem.
type linkTable struct {
	links map[string]imageLink
	bytes int
}

type imageLink struct {
	target string
	hard   bool
}

func newLinkTable() *linkTable {
	return &linkTable{links: map[string]imageLink{}}
}

// add records the link at path p.
func (t *linkTable) add(p string, hdr *tar.Header) error {
	t.bytes += len(p) + len(hdr.Linkname)
	if t.bytes > maxLinkBytes {
		return fmt.Errorf("the image holds more than %s of link names and targets; sovos does not follow that many links", byteSize(maxLinkBytes))
	}
	t.links[p] = imageLink{target: hdr.Linkname, hard: hdr.Typeflag == tar.TypeLink}
	return nil
}

// resolve follows the link at p, and every link met on the way, to the path it leads to.
// desc says what p is ("symbolic link to /rootfs/x.bin"), for a verdict's detail. The
// error, for a loop or an unusable target, says the same and why it cannot be followed.
func (t *linkTable) resolve(p string) (target, desc string, err error) {
	first := t.links[p]
	kind := "symbolic link"
	if first.hard {
		kind = "hard link"
	}
	cur := "/"
	rest := strings.Split(p, "/")
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		l, ok := t.links[next]
		if !ok {
			cur = next
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", "", fmt.Errorf("%s to %s: more than %d links on the way (a loop?)", kind, first.target, maxLinkHops)
		}
		if len(l.target) >= maxLinkTarget {
			return "", "", fmt.Errorf("%s to %s: the link %s has a target of %d bytes, longer than the kernel follows", kind, short(first.target), next, len(l.target))
		}
		if l.target == "" {
			return "", "", fmt.Errorf("%s with an empty target at %s", kind, next)
		}
		// A hard link names an archive path, from the root; so does an absolute target.
		if l.hard || strings.HasPrefix(l.target, "/") {
			cur = "/"
		}
		rest = append(strings.Split(l.target, "/"), rest...)
	}
	return cur, kind + " to " + cur, nil
}

// short cuts a long link target for a message.
func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
