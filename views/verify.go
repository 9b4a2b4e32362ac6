package views

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/verify"
)

// VerifyHuman writes `sovos verify`'s report: each extension's verdict, its modules and
// the Talos versions of the profiles using it, then the counts.
func VerifyHuman(w io.Writer, checks []*executor.ExtensionCheck) {
	if len(checks) == 0 {
		fmt.Fprintln(w, "No extension in the state to verify.")
		return
	}
	bad := 0
	for _, ch := range checks {
		verdict := "OK"
		if !ch.OK {
			verdict, bad = "FAILED", bad+1
		}
		fmt.Fprintf(w, "%s: %s\n", ch.Address, verdict)
		fmt.Fprintf(w, "  image:  %s\n", ch.Ref)
		if ch.Kernel != "" {
			fmt.Fprintf(w, "  kernel: %s\n", ch.Kernel)
		}
		if ch.Error != "" {
			fmt.Fprintf(w, "  error:  %s\n", ch.Error)
			continue
		}
		switch {
		case ch.Problem != "":
			fmt.Fprintf(w, "  FAILED: %s\n", ch.Problem)
		case len(ch.Modules) == 0:
			fmt.Fprintln(w, "  no kernel module in the image (modules = false)")
		}
		for _, m := range ch.Modules {
			line := fmt.Sprintf("  %-12s %s", m.Verdict, m.Path)
			if m.Detail != "" && m.Verdict != verify.OK {
				line += " (" + m.Detail + ")"
			}
			fmt.Fprintln(w, line)
		}
		for _, p := range ch.Profiles {
			if p.OK {
				fmt.Fprintf(w, "  talos %s (%s): compatible with %q\n", p.Version, p.Address, ch.TalosCompatibility)
			} else {
				fmt.Fprintf(w, "  talos %s (%s): INCOMPATIBLE: %s\n", p.Version, p.Address, p.Error)
			}
		}
		switch a := ch.Attestation; {
		case a == nil:
		case a.OK && a.Signed:
			fmt.Fprintf(w, "  attestation: %s (module signatures, signed)\n", a.Digest)
		case a.OK:
			fmt.Fprintf(w, "  attestation: %s (module signatures, unsigned: no signing configured)\n", a.Digest)
		default:
			fmt.Fprintf(w, "  attestation: FAILED: %s\n", a.Error)
		}
	}
	fmt.Fprintf(w, "\n%d extension(s) checked, %d failed.\n", len(checks), bad)
}

type jsonExtensionCheck struct {
	Address            string                `json:"address"`
	Ref                string                `json:"ref"`
	Kernel             string                `json:"kernel"`
	OK                 bool                  `json:"ok"`
	Error              string                `json:"error,omitempty"`
	Problem            string                `json:"problem,omitempty"`
	Modules            []verify.ModuleResult `json:"modules"`
	TalosCompatibility string                `json:"talos_compatibility,omitempty"`
	Profiles           []jsonProfileCheck    `json:"profiles,omitempty"`
	Attestation        *jsonAttestation      `json:"attestation,omitempty"`
}

type jsonAttestation struct {
	OK     bool   `json:"ok"`
	Digest string `json:"digest,omitempty"`
	Signed bool   `json:"signed"`
	Error  string `json:"error,omitempty"`
}

type jsonProfileCheck struct {
	Address string `json:"address"`
	Version string `json:"version"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

// VerifyJSON writes `sovos verify -format=json`: an array with one object per extension.
func VerifyJSON(w io.Writer, checks []*executor.ExtensionCheck) error {
	out := make([]jsonExtensionCheck, 0, len(checks))
	for _, ch := range checks {
		jc := jsonExtensionCheck{Address: ch.Address, Ref: ch.Ref, Kernel: ch.Kernel, OK: ch.OK, Error: ch.Error,
			Problem: ch.Problem, Modules: ch.Modules, TalosCompatibility: ch.TalosCompatibility}
		for _, p := range ch.Profiles {
			jc.Profiles = append(jc.Profiles, jsonProfileCheck(p))
		}
		if a := ch.Attestation; a != nil {
			jc.Attestation = &jsonAttestation{OK: a.OK, Digest: a.Digest, Signed: a.Signed, Error: a.Error}
		}
		out = append(out, jc)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(data))
	return err
}
