package views

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/state"
)

// StateHuman writes the state as `sovos show` does: a block per recorded resource, then
// the outputs. where names the backend; s may be nil (nothing applied yet).
func StateHuman(w io.Writer, s *state.State, where string) error {
	if s == nil {
		_, err := fmt.Fprintf(w, "No state in %s: nothing has been applied yet.\n", where)
		return err
	}
	fmt.Fprintf(w, "# state of workspace %q (%s, serial %d, lineage %s)\n", s.Workspace, where, s.Serial, s.Lineage)
	for _, r := range s.Resources {
		fmt.Fprintf(w, "\n%s\n", r.Address)
		if ref := contentRef(r); ref != "" {
			fmt.Fprintf(w, "    ref:      %s\n", ref)
		}
		if r.Digest != "" {
			fmt.Fprintf(w, "    digest:   %s\n", r.Digest)
		}
		fmt.Fprintf(w, "    hash:     %s\n", r.Hash)
		for _, t := range slices.Sorted(maps.Keys(r.Tags)) {
			fmt.Fprintf(w, "    tag:      %s -> %s\n", t, r.Tags[t])
		}
		for _, st := range slices.Sorted(maps.Keys(r.Stages)) {
			fmt.Fprintf(w, "    stage:    %s %s@%s\n", st, r.Stages[st].Image, r.Stages[st].Digest)
		}
		if !r.BuiltAt.IsZero() {
			fmt.Fprintf(w, "    built at: %s\n", r.BuiltAt.UTC().Format(time.RFC3339))
		}
	}
	if len(s.Outputs) > 0 {
		fmt.Fprintln(w, "\nOutputs:")
		return Outputs(w, s.Outputs)
	}
	return nil
}

// StateJSON writes the state document itself (SPEC §7), or null when there is none.
func StateJSON(w io.Writer, s *state.State) error {
	if s == nil {
		_, err := fmt.Fprintln(w, "null")
		return err
	}
	data, err := state.Encode(s)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// StateMarkdown writes the state as a table of resources, for a PR comment or a job
// summary.
func StateMarkdown(w io.Writer, s *state.State, where string) error {
	if s == nil {
		_, err := fmt.Fprintf(w, "No state in %s: nothing has been applied yet.\n", where)
		return err
	}
	fmt.Fprintf(w, "**State of workspace `%s`** (serial %d, %d resources)\n\n", s.Workspace, s.Serial, len(s.Resources))
	fmt.Fprintln(w, "| Resource | Ref | Digest |\n|---|---|---|")
	for _, r := range s.Resources {
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", cellEscape(r.Address), cellEscape(contentRef(r)), r.Digest)
	}
	return nil
}

// contentRef is a recorded build's image:tag; "" for sources and images.
func contentRef(r *state.Resource) string {
	if r.Image == "" || r.Tag == "" {
		return ""
	}
	return r.Image + ":" + r.Tag
}

// StateResource writes one recorded resource in the attribute = value style of plans
// (`sovos state show ADDR`).
func StateResource(w io.Writer, r *state.Resource) {
	fmt.Fprintf(w, "# %s:\n", r.Address)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-12s = %s\n", k, v)
		}
	}
	mapBlock := func(k string, m map[string]string) {
		if len(m) == 0 {
			return
		}
		fmt.Fprintf(w, "  %s = {\n", k)
		for _, key := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(w, "    %q = %s\n", key, m[key])
		}
		fmt.Fprintln(w, "  }")
	}
	line("type", r.Type)
	line("hash", r.Hash)
	line("tag", r.Tag)
	line("image", r.Image)
	line("digest", r.Digest)
	if r.Image != "" && r.Digest != "" {
		line("ref", r.Image+"@"+r.Digest)
	}
	if !r.BuiltAt.IsZero() {
		line("built_at", r.BuiltAt.UTC().Format(time.RFC3339))
	}
	stages := map[string]string{}
	for t, st := range r.Stages {
		stages[t] = st.Image + "@" + st.Digest
	}
	mapBlock("stages", stages)
	mapBlock("tags", r.Tags)
	mapBlock("built_from", r.BuiltFrom)
	inputs := map[string]string{}
	for k, v := range r.Inputs {
		inputs[k] = string(v)
	}
	mapBlock("inputs", inputs)
	if len(r.SigningCert) > 0 {
		line("signing_cert", fmt.Sprintf("(%d bytes DER) %s…", len(r.SigningCert), base64.StdEncoding.EncodeToString(r.SigningCert[:min(24, len(r.SigningCert))])))
	}
	mapBlock("attestations", r.Attestations)
	if rb := r.RolledBack; rb != nil {
		line("rolled_back", fmt.Sprintf("stable tags at serial %d's digests (rollback, serial %d)", rb.To, rb.At))
	}
	if v := r.Verified; v != nil {
		verdict := "failed"
		if v.OK {
			verdict = "ok"
		}
		line("verified", fmt.Sprintf("%s (%s, %d modules)", verdict, v.Digest, len(v.Modules)))
		for _, m := range v.Modules {
			if m.Verdict != "ok" {
				fmt.Fprintf(w, "    %s: %s %s\n", m.Path, m.Verdict, m.Detail)
			}
		}
	}
}

// Outputs writes `name = value` lines (values as compact JSON), sensitive values hidden
// as Terraform does.
func Outputs(w io.Writer, outputs map[string]*state.Output) error {
	for _, n := range slices.Sorted(maps.Keys(outputs)) {
		o := outputs[n]
		if o.Sensitive {
			fmt.Fprintf(w, "%s = <sensitive>\n", n)
			continue
		}
		var v any
		if err := json.Unmarshal(o.Value, &v); err != nil {
			return fmt.Errorf("output %q: %w", n, err)
		}
		data, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "%s = %s\n", n, data); err != nil {
			return err
		}
	}
	return nil
}

// ProfileArtifactRefs lists what each applied profile published, by address: its
// boot media or installer image as image:tag@digest.
func ProfileArtifactRefs(s *state.State) map[string]string {
	out := map[string]string{}
	if s == nil {
		return out
	}
	for _, r := range s.Resources {
		if r.Type == "profile" && r.Image != "" && r.Digest != "" {
			out[r.Address] = r.Image + ":" + r.Tag + "@" + r.Digest
		}
	}
	return out
}

// ProfileArtifacts writes what each applied profile published, as `sovos output` shows
// it after the outputs (a blank line first when afterOutputs).
func ProfileArtifacts(w io.Writer, s *state.State, afterOutputs bool) error {
	refs := ProfileArtifactRefs(s)
	if len(refs) == 0 {
		return nil
	}
	if afterOutputs {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Profile artifacts (boot media: `sovos fetch ADDRESS`; installers: pull the image):")
	for _, a := range slices.Sorted(maps.Keys(refs)) {
		if _, err := fmt.Fprintf(w, "  %s = %s\n", a, refs[a]); err != nil {
			return err
		}
	}
	return nil
}

// ProfileArtifact is one profile's pushed artifact in `sovos output -profiles -json`.
type ProfileArtifact struct {
	// Ref is image:tag@digest.
	Ref    string `json:"ref"`
	Image  string `json:"image"`
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
	// Kind is "boot-media" (an OCI artifact: `sovos fetch`, `oras pull`), "installer"
	// (the installer image: `crane pull`, `docker pull`) or "image" (what an earlier sovos
	// pushed; the next apply pushes it again).
	Kind string `json:"kind"`
}

// ProfileArtifactsJSON writes what each applied profile pushed, keyed by address, as
// `sovos output -profiles -json` prints it: a document of its own, so `output -json`
// stays Terraform's map of outputs.
func ProfileArtifactsJSON(w io.Writer, s *state.State) error {
	doc := map[string]ProfileArtifact{}
	if s != nil {
		for _, r := range s.Resources {
			if r.Type != "profile" || r.Image == "" || r.Digest == "" {
				continue
			}
			kind := "image"
			switch r.ArtifactType {
			case bootmedia.ArtifactType:
				kind = "boot-media"
			case bootmedia.InstallerImage:
				kind = "installer"
			}
			doc[r.Address] = ProfileArtifact{Ref: r.Image + ":" + r.Tag + "@" + r.Digest, Image: r.Image, Tag: r.Tag, Digest: r.Digest, Kind: kind}
		}
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(data))
	return err
}

// OutputsJSON writes every output as {"NAME": {"value": ..., "sensitive": bool}}, as
// `terraform output -json` does: the value of a sensitive output included.
func OutputsJSON(w io.Writer, outputs map[string]*state.Output) error {
	type jsonOutput struct {
		Value     json.RawMessage `json:"value"`
		Sensitive bool            `json:"sensitive"`
	}
	doc := map[string]jsonOutput{}
	for n, o := range outputs {
		doc[n] = jsonOutput{Value: o.Value, Sensitive: o.Sensitive}
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(data))
	return err
}

// Output writes one output's value: its JSON with asJSON, else a string raw (so
// `$(sovos output ref)` works in scripts) and anything else as indented JSON.
func Output(w io.Writer, o *state.Output, asJSON bool) error {
	if asJSON {
		_, err := fmt.Fprintln(w, string(o.Value))
		return err
	}
	var str string
	if json.Unmarshal(o.Value, &str) == nil {
		_, err := fmt.Fprintln(w, str)
		return err
	}
	var v any
	if err := json.Unmarshal(o.Value, &v); err != nil {
		return errors.New("the recorded output is not valid JSON")
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	_, err := fmt.Fprintln(w, string(data))
	return err
}
