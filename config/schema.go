package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// The configuration language is described by the declarative tables below: one
// blockSchema per block type. Decoding, type checking and the "unknown attribute"
// diagnostics all derive from them, so adding an attribute is a one-line change.

// attrKind says how an attribute's value is interpreted beyond its cty type.
type attrKind int

const (
	attrValue  attrKind = iota // an ordinary value converted to Type
	attrRef                    // a reference to a resource or builder (checked by kind)
	attrStatic                 // not evaluated: a list of references (depends_on)
)

type attrSchema struct {
	Name     string
	Type     cty.Type
	Required bool
	Kind     attrKind
	// RefTypes lists the resource types a reference attribute accepts.
	RefTypes []string
}

type blockSchema struct {
	Type   string
	Labels []string
	Attrs  []attrSchema
	Blocks []*blockSchema
	// Unique blocks may appear at most once in their parent.
	Unique bool
	// Required blocks must appear (once) in their parent.
	Required bool
}

func (s *blockSchema) bodySchema() *hcl.BodySchema {
	bs := &hcl.BodySchema{}
	for _, a := range s.Attrs {
		bs.Attributes = append(bs.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	for _, b := range s.Blocks {
		bs.Blocks = append(bs.Blocks, hcl.BlockHeaderSchema{Type: b.Type, LabelNames: b.Labels})
	}
	return bs
}

func (s *blockSchema) attr(name string) *attrSchema {
	for i := range s.Attrs {
		if s.Attrs[i].Name == name {
			return &s.Attrs[i]
		}
	}
	return nil
}

func (s *blockSchema) block(name string) *blockSchema {
	for _, b := range s.Blocks {
		if b.Type == name {
			return b
		}
	}
	return nil
}

var (
	strMap  = cty.Map(cty.String)
	strList = cty.List(cty.String)
	anyType = cty.DynamicPseudoType
)

// metaAttrs are accepted on every resource block.
func metaAttrs() []attrSchema {
	return []attrSchema{
		{Name: "for_each", Type: anyType, Kind: attrStatic},
		{Name: "count", Type: anyType, Kind: attrStatic},
		{Name: "depends_on", Type: anyType, Kind: attrStatic},
	}
}

func buildAttrs(extra ...attrSchema) []attrSchema {
	as := append(metaAttrs(),
		attrSchema{Name: "source", Type: anyType, Required: true, Kind: attrRef, RefTypes: []string{TypeSource}},
		attrSchema{Name: "dockerfile", Type: cty.String},
		attrSchema{Name: "frontend", Type: cty.String},
		attrSchema{Name: "target", Type: cty.String},
		attrSchema{Name: "platform", Type: cty.String},
		attrSchema{Name: "args", Type: strMap},
		attrSchema{Name: "contexts", Type: anyType},
		attrSchema{Name: "secrets", Type: anyType},
		attrSchema{Name: "image", Type: cty.String, Required: true},
		attrSchema{Name: "tags", Type: strList},
		attrSchema{Name: "builder", Type: anyType, Kind: attrRef, RefTypes: []string{typeBuilder}},
		attrSchema{Name: "triggers", Type: strMap},
		attrSchema{Name: "description", Type: cty.String},
		attrSchema{Name: "provenance", Type: cty.String},
	)
	return append(as, extra...)
}

func buildBlocks(extra ...*blockSchema) []*blockSchema {
	bs := []*blockSchema{
		{Type: "stage", Labels: []string{"target"}, Attrs: []attrSchema{{Name: "image", Type: cty.String, Required: true}}},
		{Type: "cache", Unique: true, Attrs: []attrSchema{{Name: "ref", Type: cty.String, Required: true}, {Name: "mode", Type: cty.String}}},
	}
	return append(bs, extra...)
}

// typeBuilder is the reference root of builder blocks; builders are not resources.
const typeBuilder = "builder"

var schemas = map[string]*blockSchema{
	"sovos": {
		Type: "sovos", Unique: true,
		Attrs: []attrSchema{
			{Name: "required_version", Type: cty.String},
			{Name: "insecure_registries", Type: strList},
		},
		Blocks: []*blockSchema{{Type: "state", Unique: true, Attrs: []attrSchema{
			{Name: "registry", Type: cty.String},
			{Name: "path", Type: cty.String},
			{Name: "workspace", Type: cty.String},
		}}, {Type: "signing", Unique: true, Attrs: []attrSchema{
			{Name: "key", Type: cty.String},
			{Name: "public_key", Type: cty.String},
			{Name: "keyless", Type: cty.Bool},
			{Name: "identity", Type: cty.String},
			{Name: "issuer", Type: cty.String},
			{Name: "fulcio_url", Type: cty.String},
			{Name: "rekor_url", Type: cty.String},
			{Name: "trusted_root", Type: cty.String},
		}}},
	},
	"variable": {
		Type: "variable", Labels: []string{"name"},
		Attrs: []attrSchema{
			{Name: "type", Type: anyType, Kind: attrStatic},
			{Name: "default", Type: anyType, Kind: attrStatic},
			{Name: "description", Type: cty.String, Kind: attrStatic},
			{Name: "sensitive", Type: cty.Bool, Kind: attrStatic},
			{Name: "nullable", Type: cty.Bool, Kind: attrStatic},
		},
		Blocks: []*blockSchema{{Type: "validation", Attrs: []attrSchema{
			{Name: "condition", Type: cty.Bool, Required: true},
			{Name: "error_message", Type: cty.String, Required: true},
		}}},
	},
	"locals": {Type: "locals"},
	typeBuilder: {
		Type: typeBuilder, Labels: []string{"name"},
		Attrs: []attrSchema{
			{Name: "address", Type: cty.String},
			{Name: "platforms", Type: strList},
			{Name: "description", Type: cty.String},
		},
		Blocks: []*blockSchema{{Type: "tls", Unique: true, Attrs: []attrSchema{
			{Name: "ca_cert", Type: cty.String},
			{Name: "cert", Type: cty.String},
			{Name: "key", Type: cty.String},
			{Name: "server_name", Type: cty.String},
		}}},
	},
	TypeSource: {
		Type: TypeSource, Labels: []string{"name"},
		Attrs: append(metaAttrs(),
			attrSchema{Name: "git", Type: cty.String},
			attrSchema{Name: "ref", Type: cty.String},
			attrSchema{Name: "commit", Type: cty.String},
			attrSchema{Name: "subdir", Type: cty.String},
			attrSchema{Name: "path", Type: cty.String},
			attrSchema{Name: "description", Type: cty.String},
		),
	},
	TypeImage: {
		Type: TypeImage, Labels: []string{"name"},
		Attrs: append(metaAttrs(),
			attrSchema{Name: "ref", Type: cty.String, Required: true},
			attrSchema{Name: "digest", Type: cty.String},
			attrSchema{Name: "description", Type: cty.String},
		),
	},
	TypeKernel: {
		Type: TypeKernel, Labels: []string{"name"},
		Attrs: buildAttrs(),
		Blocks: buildBlocks(&blockSchema{Type: "signing_cert", Unique: true, Attrs: []attrSchema{
			{Name: "target", Type: cty.String, Required: true},
			{Name: "path", Type: cty.String, Required: true},
		}}),
	},
	TypeExtension: {
		Type: TypeExtension, Labels: []string{"name"},
		Attrs: buildAttrs(
			attrSchema{Name: "kernel", Type: anyType, Required: true, Kind: attrRef, RefTypes: []string{TypeKernel}},
			attrSchema{Name: "modules", Type: cty.Bool},
		),
		Blocks: buildBlocks(),
	},
	TypeInstaller: {
		Type: TypeInstaller, Labels: []string{"name"},
		Attrs: buildAttrs(
			attrSchema{Name: "kernel", Type: anyType, Required: true, Kind: attrRef, RefTypes: []string{TypeKernel}},
			attrSchema{Name: "kernel_arg", Type: cty.String},
		),
		Blocks: buildBlocks(),
	},
	TypeProfile: {
		Type: TypeProfile, Labels: []string{"name"},
		Attrs: append(metaAttrs(),
			attrSchema{Name: "arch", Type: cty.String, Required: true},
			attrSchema{Name: "platform", Type: cty.String},
			attrSchema{Name: "version", Type: cty.String, Required: true},
			attrSchema{Name: "secureboot", Type: cty.Bool},
			attrSchema{Name: "secureboot_keys", Type: anyType},
			attrSchema{Name: "installer", Type: cty.String},
			attrSchema{Name: "extensions", Type: strList},
			attrSchema{Name: "kernel_args", Type: strList},
			attrSchema{Name: "board", Type: cty.String},
			attrSchema{Name: "imager", Type: cty.String},
			attrSchema{Name: "image", Type: cty.String},
			attrSchema{Name: "tags", Type: strList},
			attrSchema{Name: "dest", Type: cty.String},
			attrSchema{Name: "builder", Type: anyType, Kind: attrRef, RefTypes: []string{typeBuilder}},
			attrSchema{Name: "description", Type: cty.String},
		),
		Blocks: []*blockSchema{
			{Type: "overlay", Unique: true, Attrs: []attrSchema{
				{Name: "name", Type: cty.String, Required: true},
				{Name: "image", Type: cty.String, Required: true},
				{Name: "options", Type: anyType},
			}},
			{Type: "output", Unique: true, Required: true, Attrs: []attrSchema{
				{Name: "kind", Type: cty.String, Required: true},
				{Name: "out_format", Type: cty.String},
				{Name: "disk_size", Type: cty.Number},
				{Name: "disk_format", Type: cty.String},
				{Name: "bootloader", Type: cty.String},
			}},
		},
	},
	"output": {
		Type: "output", Labels: []string{"name"},
		Attrs: []attrSchema{
			{Name: "value", Type: anyType, Required: true},
			{Name: "sensitive", Type: cty.Bool},
			{Name: "description", Type: cty.String},
			{Name: "depends_on", Type: anyType, Kind: attrStatic},
		},
	},
}

// blockOrder is the order of top-level block types in the root schema.
var blockOrder = []string{"sovos", "variable", "locals", typeBuilder, TypeSource, TypeImage,
	TypeKernel, TypeExtension, TypeInstaller, TypeProfile, "output"}

// resourceTypes are the block types that become resources, in no particular order.
var resourceTypes = map[string]bool{TypeSource: true, TypeImage: true, TypeKernel: true,
	TypeExtension: true, TypeInstaller: true, TypeProfile: true}

func rootSchema() *hcl.BodySchema {
	bs := &hcl.BodySchema{}
	for _, t := range blockOrder {
		bs.Blocks = append(bs.Blocks, hcl.BlockHeaderSchema{Type: t, LabelNames: schemas[t].Labels})
	}
	return bs
}
