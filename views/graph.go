package views

import (
	"fmt"
	"io"
	"strings"

	"github.com/urmanac/sovos/config"
)

// GraphDOT renders the resource graph in Graphviz DOT (`sovos graph`), edges pointing
// from a resource to what it depends on (as terraform graph does), with a note under
// some nodes' labels (address → note, e.g. the action a plan gives it); noted nodes are
// drawn bold.
func GraphDOT(w io.Writer, c *config.Config, notes map[string]string) error {
	var b strings.Builder
	b.WriteString("digraph sovos {\n\tcompound = \"true\"\n\tnewrank = \"true\"\n\trankdir = \"RL\"\n")
	for _, r := range c.Resources {
		id := dotID(r.Addr)
		label, style := id, ""
		if n := notes[r.Addr.String()]; n != "" {
			label = id[:len(id)-1] + `\n(` + n + `)"`
			style = `, style = "bold"`
		}
		fmt.Fprintf(&b, "\t%s [label = %s, shape = %q%s]\n", id, label, dotShape(r.Addr.Type), style)
	}
	for _, e := range c.Edges() {
		fmt.Fprintf(&b, "\t%s -> %s\n", dotID(e[0]), dotID(e[1]))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotID(a config.Address) string {
	s := a.String()
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

func dotShape(t string) string {
	switch t {
	case config.TypeSource, config.TypeImage:
		return "note"
	case config.TypeProfile:
		return "component"
	}
	return "box"
}

// GraphMermaid renders the resource graph as a mermaid flowchart that GitHub renders in
// a ```mermaid fenced block (`sovos graph -format=mermaid`), with a note under some
// nodes' labels. Node ids are n0, n1, ... because addresses contain characters mermaid
// ids cannot; labels carry the address.
func GraphMermaid(w io.Writer, c *config.Config, notes map[string]string) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := make(map[string]string, len(c.Resources))
	for i, r := range c.Resources {
		id := fmt.Sprintf("n%d", i)
		ids[r.Addr.String()] = id
		open, close := mermaidShape(r.Addr.Type)
		label := mermaidEscape(r.Addr.String())
		if n := notes[r.Addr.String()]; n != "" {
			label += "<br/>(" + mermaidEscape(n) + ")"
		}
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", id, open, label, close)
	}
	for _, e := range c.Edges() {
		fmt.Fprintf(&b, "  %s --> %s\n", ids[e[0].String()], ids[e[1].String()])
	}
	for _, t := range []string{config.TypeSource, config.TypeImage, config.TypeKernel, config.TypeExtension, config.TypeInstaller, config.TypeProfile} {
		var members []string
		for _, r := range c.Resources {
			if r.Addr.Type == t {
				members = append(members, ids[r.Addr.String()])
			}
		}
		if len(members) > 0 {
			fmt.Fprintf(&b, "  class %s %s\n", strings.Join(members, ","), t)
		}
	}
	b.WriteString("  classDef source fill:#eef,stroke:#669\n")
	b.WriteString("  classDef image fill:#eee,stroke:#999\n")
	b.WriteString("  classDef kernel fill:#fee,stroke:#c66\n")
	b.WriteString("  classDef extension fill:#efe,stroke:#6a6\n")
	b.WriteString("  classDef installer fill:#ffe,stroke:#aa6\n")
	b.WriteString("  classDef profile fill:#fef,stroke:#a6a\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func mermaidShape(t string) (string, string) {
	switch t {
	case config.TypeSource, config.TypeImage:
		return "[(", ")]"
	case config.TypeProfile:
		return "([", "])"
	}
	return "[", "]"
}

// mermaidEscape makes a label safe inside "...": mermaid reads #quot; as a quote.
func mermaidEscape(s string) string {
	return strings.ReplaceAll(s, `"`, "#quot;")
}
