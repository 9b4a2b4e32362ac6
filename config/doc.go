// Package config loads a sovos configuration (every *.sovos.hcl and *.sovos.json file of
// a directory) and evaluates it into a Config: resources in dependency order with
// typed, evaluated attributes, the input of the planner.
//
// Decoding runs in phases, as HCL intends: LoadDir parses the files and decodes the
// block structure against declarative schemas (schema.go); Evaluate resolves variables
// (Terraform's precedence), builds the reference graph, rejects cycles, and then
// evaluates locals, builders and resources in topological order, calling Hooks so that
// hashes, tags and refs are known to whatever depends on them. Every user error is an
// hcl.Diagnostic with a source range; nothing here panics on bad input.
package config
