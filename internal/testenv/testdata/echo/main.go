// Command echo is the tool testenv's own tests run through CLI: it prints its working
// directory, arguments, $ECHO_VAR and standard input on standard output, "to stderr" on
// standard error, and exits with the status given by an argument -exit=N.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

func main() {
	wd, _ := os.Getwd()
	in, _ := io.ReadAll(os.Stdin)
	fmt.Printf("dir=%s\nargs=%s\nvar=%s\nstdin=%q\n", wd, strings.Join(os.Args[1:], " "), os.Getenv("ECHO_VAR"), in)
	fmt.Fprintln(os.Stderr, "to stderr")
	code := 0
	for _, a := range os.Args[1:] {
		if n, ok := strings.CutPrefix(a, "-exit="); ok {
			code, _ = strconv.Atoi(n)
		}
	}
	os.Exit(code)
}
