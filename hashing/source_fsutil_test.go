package hashing

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher/ignorefile"
	"github.com/tonistiigi/fsutil"
)

// TestWalkContextMatchesBuildKit compares the paths walkContext keeps with those
// BuildKit's own context walker (fsutil with the .dockerignore patterns as
// ExcludePatterns, which is what the Dockerfile frontend asks the client to send) keeps,
// on .dockerignore files that exercise re-inclusion, ** and directory patterns.
func TestWalkContextMatchesBuildKit(t *testing.T) {
	tree := map[string]string{
		"Dockerfile": "FROM scratch\n", "a.log": "", "keep.log": "", "src/a.log": "", "src/x/y.log": "",
		"src/main.c": "", "build/out.o": "", "build/keep/me.txt": "", "build/keep/not.o": "",
		"build/sub/deep/keep.txt": "", "vendor/a/b/c.go": "", "vendor/a/b/c_test.go": "",
		"docs/readme.md": "", "docs/img/logo.png": "", "empty/": "", "node_modules/x/index.js": "",
		"link": "->src/main.c", "tmp/t.txt": "", "tmpfile": "", "dir with space/f": "",
	}
	ignores := []string{
		"*.log\n!keep.log\n",
		"**/*.log\nbuild\n!build/keep\n*.o\n",
		"build/*\n!build/**/keep.txt\nvendor/**/*_test.go\n",
		"# comment\n/docs/img\nnode_modules/\ntmp*\n!tmp/t.txt\n",
		"*\n!src\n!Dockerfile\n",
		"*\n!**/*.c\n",
		"dir with space\nempty\n",
		"./src/../docs\n",
	}
	for _, ig := range ignores {
		t.Run(strings.ReplaceAll(ig, "\n", " "), func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tree)
			writeFile(t, dir, ".dockerignore", ig)
			patterns, err := ignorefile.ReadAll(strings.NewReader(ig))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			err = fsutil.Walk(context.Background(), dir, &fsutil.FilterOpt{ExcludePatterns: patterns},
				func(p string, fi os.FileInfo, err error) error {
					if err != nil {
						return err
					}
					want = append(want, filepath.ToSlash(p))
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			entries, err := walkContext(context.Background(), dir, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.rel)
			}
			// sovos always keeps these two (Docker sends them regardless).
			for _, always := range alwaysIncluded {
				if !slices.Contains(want, always) {
					want = append(want, always)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("walkContext kept\n  %q\nBuildKit keeps\n  %q", got, want)
			}
		})
	}
}
