package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// SovosVersion is the version `required_version` constraints are checked against.
const SovosVersion = "0.1.0"

// EvalOptions are the inputs of an evaluation that do not come from the configuration
// files themselves.
type EvalOptions struct {
	// DirName is how the user named the configuration directory (-chdir, before sovos
	// switched to it), for messages about the directory itself; "" is the dir given.
	DirName  string
	Vars     []string // -var values "name=value", command-line order
	VarFiles []string // -var-file paths (relative to the config dir or absolute)
	Environ  []string // os.Environ(), for SOVOS_VAR_name, BUILDKIT_HOST, SOVOS_WORKSPACE
	// Hooks resolve content hashes and digests; nil leaves hash-derived values unknown
	// (validate, graph).
	Hooks Hooks
	// Workspace overrides the configured workspace (-workspace / SOVOS_WORKSPACE); ""
	// means SOVOS_WORKSPACE from Environ, else the config's, else "default".
	Workspace string
	// Args, when set, replaces Vars and VarFiles with the -var and -var-file options in
	// their command-line order, so a later option wins as in Terraform.
	Args []VarArg
	// Pinning loads the configuration for `sovos pin`, which writes the pins: a git
	// source may lack its commit (every other command refuses that).
	Pinning bool
	// Saved holds variable values a saved plan was made with (`apply FILE`): a variable
	// that no -var, -var-file, SOVOS_VAR_ or *.auto.sovosvars sets takes its saved value
	// before its default, so the plan's values need not be given again.
	Saved map[string]cty.Value
	// Validate checks the configuration as `sovos validate` does, as Terraform's
	// validate does: a required variable without a value is unknown instead of an
	// error, and a for_each or count that depends on one is checked as one instance
	// whose key is unknown.
	Validate bool
	// ReadOnly evaluates for a command that builds nothing (pin, graph, state, verify,
	// ...): the files only a build reads — secret files, secureboot keys, a builder's
	// TLS files — are not checked, so a CI job without those secrets (the weekly `pin
	// -check`) runs it. validate, plan and apply check them.
	ReadOnly bool
	// CheckBuilderAddress, when set, checks a builder's address the way the BuildKit
	// client will dial it (executor/bkdriver.CheckAddress), so validate reports a bad one.
	CheckBuilderAddress func(address string) error
}

// VarArg is one -var ("name=value") or -var-file (path) option.
type VarArg struct {
	File  bool
	Value string
}

// varArgs returns the options in precedence order: Args if set, else VarFiles then Vars.
func (o EvalOptions) varArgs() []VarArg {
	if len(o.Args) > 0 {
		return o.Args
	}
	out := make([]VarArg, 0, len(o.VarFiles)+len(o.Vars))
	for _, f := range o.VarFiles {
		out = append(out, VarArg{File: true, Value: f})
	}
	for _, v := range o.Vars {
		out = append(out, VarArg{Value: v})
	}
	return out
}

// Module is a parsed but not yet evaluated configuration directory.
type Module struct {
	// Dir is the directory as given; AbsDir is absolute.
	Dir       string
	AbsDir    string
	parser    *hclparse.Parser
	settings  *decl
	variables []*decl
	locals    []*decl
	builders  []*decl
	resources []*decl
	outputs   []*decl
	// mu serialises evaluations: pruning edits expression trees for a moment.
	mu sync.Mutex
}

// decl is one named declaration: a variable, a local, a builder, a resource block or an
// output.
type decl struct {
	Kind      string // "var", "local", "builder", "output", or a resource type
	Name      string
	DeclRange hcl.Range
	body      *body          // nil for locals
	expr      hcl.Expression // locals only
	// flows caches the analysis of each expression (flow.go).
	flows map[hcl.Expression]*exprFlow
}

func (d *decl) key() string { return d.Kind + "." + d.Name }

// body is a block body decoded against its schema.
type body struct {
	schema *blockSchema
	attrs  hcl.Attributes
	// evaluated lists the attributes evaluated per instance, in source order, with
	// their schemas: computed once, as every instance walks them.
	evaluated []schemaAttr
	blocks    []*nestedBlock
	// missing is where a missing attribute would go (for diagnostics).
	missing hcl.Range
}

type schemaAttr struct {
	*hcl.Attribute
	schema *attrSchema
}

type nestedBlock struct {
	Type     string
	Labels   []string
	DefRange hcl.Range
	body     *body
}

func (b *body) blocksOf(t string) []*nestedBlock {
	var out []*nestedBlock
	for _, nb := range b.blocks {
		if nb.Type == t {
			out = append(out, nb)
		}
	}
	return out
}

// LoadDir parses every *.sovos.hcl and *.sovos.json file in dir and decodes the
// structure of its blocks. Expressions are evaluated later, by Evaluate.
func LoadDir(dir string) (*Module, hcl.Diagnostics) { return LoadDirNamed(dir, dir) }

// LoadDirNamed is LoadDir where the user named the directory name (the -chdir they gave
// before sovos switched to it): messages about the directory itself say name.
func LoadDirNamed(dir, name string) (*Module, hcl.Diagnostics) {
	if name == "" {
		name = dir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid configuration directory", Detail: fmt.Sprintf("Cannot resolve %q: %s.", dir, err)}}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration directory", Detail: fmt.Sprintf("%s; pass an existing directory with -chdir.", err)}}
	}
	m := &Module{Dir: dir, AbsDir: abs, parser: hclparse.NewParser()}
	var diags hcl.Diagnostics
	var names []string
	for _, e := range entries {
		if IsConfigFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var read []string
	for _, n := range names {
		path := filepath.Join(dir, n)
		src, ds := ReadSource(path)
		diags = append(diags, ds...)
		if src == nil {
			continue // not a regular file: skipped with a warning, or unreadable
		}
		read = append(read, n)
		if ds.HasErrors() {
			// Not parsed, but its lines are what a snippet shows.
			m.parser.AddFile(path, &hcl.File{Bytes: src})
			continue
		}
		diags = append(diags, m.parseFile(path, src)...)
	}
	if len(read) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No configuration files",
			Detail: fmt.Sprintf("The directory %s contains no *.sovos.hcl or *.sovos.json file; create one or point -chdir at the configuration directory.", name)})
		return m, diags
	}
	diags = append(diags, m.checkDuplicates()...)
	return m, diags
}

// parseFile parses one configuration file read (and checked) already.
func (m *Module) parseFile(path string, src []byte) hcl.Diagnostics {
	f, diags := m.parse(path, src)
	if f == nil {
		return diags
	}
	return append(diags, m.addFile(f)...)
}

// parse parses a configuration or variable file read (and checked) already, in the
// syntax its suffix says (.json is HCL's JSON syntax). On a syntax error f is nil and
// the diagnostics are FirstSyntaxError's.
func (m *Module) parse(path string, src []byte) (f *hcl.File, diags hcl.Diagnostics) {
	if strings.HasSuffix(path, ".json") {
		f, diags = m.parser.ParseJSON(src, path)
	} else {
		f, diags = m.parser.ParseHCL(src, path)
	}
	if f == nil || diags.HasErrors() {
		return nil, FirstSyntaxError(diags)
	}
	return f, diags
}

// FirstSyntaxError keeps a file's first syntax error (and its warnings): HCL's parser
// recovers poorly, so what it reports after the first error is mostly that error again
// in other words (an unterminated string is also an "invalid multi-line string" on the
// next line), and one mistake should read as one error.
func FirstSyntaxError(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	seen := false
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			if seen {
				continue
			}
			seen = true
		}
		out = append(out, d)
	}
	return out
}

func (m *Module) addFile(f *hcl.File) hcl.Diagnostics {
	content, diags := f.Body.Content(rootSchema())
	for _, blk := range content.Blocks {
		s := schemas[blk.Type]
		switch blk.Type {
		case "locals":
			attrs, ds := blk.Body.JustAttributes()
			diags = append(diags, ds...)
			for _, a := range sortedAttrs(attrs) {
				m.locals = append(m.locals, &decl{Kind: "local", Name: a.Name, DeclRange: a.NameRange, expr: a.Expr})
			}
			continue
		case "sovos":
			if m.settings != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate sovos block",
					Detail: fmt.Sprintf("A sovos block was already declared at %s; merge the two blocks into one.", m.settings.DeclRange), Subject: blk.DefRange.Ptr()})
				continue
			}
		}
		b, ds := decodeBody(blk.Body, s)
		diags = append(diags, ds...)
		d := &decl{Kind: blk.Type, DeclRange: blk.DefRange, body: b}
		if len(blk.Labels) > 0 {
			d.Name = blk.Labels[0]
			if !hclsyntax.ValidIdentifier(d.Name) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid name",
					Detail: fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", d.Name), Subject: blk.LabelRanges[0].Ptr()})
				continue
			}
		}
		switch {
		case blk.Type == "sovos":
			m.settings = d
		case blk.Type == "variable":
			d.Kind = "var"
			m.variables = append(m.variables, d)
		case blk.Type == typeBuilder:
			m.builders = append(m.builders, d)
		case blk.Type == "output":
			m.outputs = append(m.outputs, d)
		default:
			m.resources = append(m.resources, d)
		}
	}
	return diags
}

// sortedAttrs returns attributes in source order, so evaluation is deterministic.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := out[i].Range, out[j].Range
		if ri.Filename != rj.Filename {
			return ri.Filename < rj.Filename
		}
		return ri.Start.Byte < rj.Start.Byte
	})
	return out
}

func decodeBody(b hcl.Body, s *blockSchema) (*body, hcl.Diagnostics) {
	content, diags := b.Content(s.bodySchema())
	out := &body{schema: s, attrs: content.Attributes, missing: content.MissingItemRange}
	for _, a := range sortedAttrs(content.Attributes) {
		if as := s.attr(a.Name); as != nil && as.Kind != attrStatic {
			out.evaluated = append(out.evaluated, schemaAttr{a, as})
		}
	}
	seen := map[string]hcl.Range{}
	for _, blk := range content.Blocks {
		ns := s.block(blk.Type)
		if ns.Unique {
			if prev, ok := seen[blk.Type]; ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Duplicate %s block", blk.Type),
					Detail: fmt.Sprintf("Only one %s block is allowed here and one is already declared at %s; remove one of them.", blk.Type, prev), Subject: blk.DefRange.Ptr()})
				continue
			}
			seen[blk.Type] = blk.DefRange
		}
		nb, ds := decodeBody(blk.Body, ns)
		diags = append(diags, ds...)
		out.blocks = append(out.blocks, &nestedBlock{Type: blk.Type, Labels: blk.Labels, DefRange: blk.DefRange, body: nb})
	}
	for _, ns := range s.Blocks {
		if ns.Required && len(out.blocksOf(ns.Type)) == 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Missing %s block", ns.Type),
				Detail: fmt.Sprintf("%s %s block is required here; add one.", article(ns.Type), ns.Type), Subject: content.MissingItemRange.Ptr()})
		}
	}
	return out, diags
}

func (m *Module) checkDuplicates() hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]*decl{}
	for _, group := range [][]*decl{m.variables, m.locals, m.builders, m.resources, m.outputs} {
		for _, d := range group {
			k := d.key()
			if prev, ok := seen[k]; ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + d.Kind + " name",
					Detail: fmt.Sprintf("%s is already declared at %s; names must be unique within their block type, so rename one of them.", k, prev.DeclRange), Subject: d.DeclRange.Ptr()})
				continue
			}
			seen[k] = d
		}
	}
	return diags
}

// Load parses and evaluates the configuration in dir.
func Load(ctx context.Context, dir string, opts EvalOptions) (*Config, hcl.Diagnostics) {
	m, diags := LoadDirNamed(dir, opts.DirName)
	if diags.HasErrors() {
		return &Config{Dir: m.absDir(), Files: m.Files()}, diags
	}
	cfg, ds := m.Evaluate(ctx, opts)
	return cfg, append(diags, ds...)
}

func (m *Module) absDir() string {
	if m == nil {
		return ""
	}
	return m.AbsDir
}

// Files returns every file parsed so far (configuration files, and variable files once
// evaluated) by the name used in diagnostic ranges; nil-safe, for rendering diagnostics.
func (m *Module) Files() map[string]*hcl.File {
	if m == nil {
		return nil
	}
	return m.parser.Files()
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "An"
	}
	return "A"
}
