package main

import (
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInterspersedArgs(t *testing.T) {
	app := newApp()
	app.Commands = append(app.Commands, &testCmd)
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"flags after positional", []string{"sovos", "t", "plan.out", "-auto-approve"}, []string{"sovos", "t", "-auto-approve", "plan.out"}},
		{"value flag travels with its value", []string{"sovos", "t", "plan.out", "-var", "x=a,b", "-auto-approve"}, []string{"sovos", "t", "-var", "x=a,b", "-auto-approve", "plan.out"}},
		{"global flags stay first", []string{"sovos", "-chdir", "dir", "t", "a", "-var=x=1"}, []string{"sovos", "-chdir", "dir", "t", "-var=x=1", "a"}},
		{"global flag after the command", []string{"sovos", "t", "-no-color", "a"}, []string{"sovos", "-no-color", "t", "a"}},
		{"double dash ends flags", []string{"sovos", "t", "a", "--", "-x"}, []string{"sovos", "t", "a", "--", "-x"}},
		{"unknown command untouched", []string{"sovos", "nope", "a", "-b"}, []string{"sovos", "nope", "a", "-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := interspersedArgs(app, tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("interspersedArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

var testCmd = cli.Command{
	Name: "t",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "auto-approve"},
		&cli.StringSliceFlag{Name: "var"},
	},
}

func TestUnknownCommandExitsOne(t *testing.T) {
	if code := run([]string{"sovos", "bogus"}); code != 1 {
		t.Errorf("sovos bogus: exit %d, want 1", code)
	}
}
