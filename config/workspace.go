package config

import (
	"fmt"

	"github.com/urmanac/sovos/internal/grammar"
)

// DefaultWorkspace is the workspace of a configuration that names none.
const DefaultWorkspace = "default"

// ResolveWorkspace is the one answer to "which workspace?": the -workspace flag, else
// SOVOS_WORKSPACE (from environ), else sovos.state.workspace (configured), else
// "default". The name must match [A-Za-z0-9_-]{1,64}; the error says which of the four
// gave the name and how to fix it.
func ResolveWorkspace(flag string, environ []string, configured string) (string, error) {
	ws, from := DefaultWorkspace, ""
	switch {
	case flag != "":
		ws, from = flag, "-workspace"
	case env(environ, "SOVOS_WORKSPACE") != "":
		ws, from = env(environ, "SOVOS_WORKSPACE"), "SOVOS_WORKSPACE"
	case configured != "":
		ws, from = configured, "sovos.state.workspace"
	}
	if !grammar.IsWorkspace(ws) {
		return "", fmt.Errorf("%s names the workspace %q: a workspace name is 1 to 64 letters, digits, '_' and '-' (its state is stored under tags derived from it). Choose such a name; to move a state stored under an older name, `sovos state pull` it with the sovos that wrote it and `sovos state push -force -workspace=NEW FILE` (-force: the file names the old workspace)", from, ws)
	}
	return ws, nil
}
