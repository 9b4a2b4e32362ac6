package main

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
	"github.com/urmanac/sovos/views"
)

func verifyCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "format", Value: "human", Usage: "output format: human or json"},
	}, varFlags()...)
	return &cli.Command{
		Name:      "verify",
		Usage:     "check that every module of the extensions is signed by its kernel's key",
		ArgsUsage: "[ADDR]...",
		Flags:     append(flags, stateFlags()...),
		Action:    verifyAction,
	}
}

func verifyAction(c *cli.Context) error {
	format := c.String("format")
	if format != "human" && format != "json" {
		return fmt.Errorf("-format=%s: use human or json", format)
	}
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return err
	}
	backend, err := openBackend(c, cfg)
	if err != nil {
		return err
	}
	s, _, err := backend.Read(c.Context)
	if err != nil {
		return stateReadError(backend, err)
	}
	if s == nil {
		return fmt.Errorf("no state in %s: nothing has been applied yet, so there is nothing to verify", backend)
	}
	var exts []*state.Resource
	for _, r := range s.Resources {
		if r.Type == config.TypeExtension {
			exts = append(exts, r)
		}
	}
	if c.NArg() > 0 {
		var picked []*state.Resource
		for _, a := range c.Args().Slice() {
			r := s.Resource(a)
			if r == nil {
				return fmt.Errorf("no resource %s in the state in %s; `sovos state list` shows what is recorded", a, backend)
			}
			if r.Type != config.TypeExtension {
				return fmt.Errorf("%s is a %s: verify checks extensions", a, r.Type)
			}
			picked = append(picked, r)
		}
		exts = picked
	}

	reg, err := registryClient(cfg.Settings)
	if err != nil {
		return err
	}
	var checks []*executor.ExtensionCheck
	bad := false
	for _, r := range exts {
		ch := checkExtension(c, reg, cfg, s, r)
		if !ch.OK {
			bad = true
		}
		checks = append(checks, ch)
	}
	if format == "json" {
		if err := views.VerifyJSON(c.App.Writer, checks); err != nil {
			return err
		}
	} else {
		views.VerifyHuman(c.App.Writer, checks)
	}
	if bad {
		return cli.Exit("", 1)
	}
	return nil
}

// checkExtension verifies one recorded extension against its kernel's recorded key, and
// its Talos compatibility against every profile that uses it.
func checkExtension(c *cli.Context, reg *oci.Client, cfg *config.Config, s *state.State, r *state.Resource) *executor.ExtensionCheck {
	var err error
	ch := &executor.ExtensionCheck{Address: r.Address, Ref: r.Image + "@" + r.Digest}
	fail := func(format string, args ...any) *executor.ExtensionCheck {
		ch.Error = fmt.Sprintf(format, args...)
		return ch
	}
	if r.Digest == "" {
		return fail("no digest recorded: apply it first")
	}
	cr := cfg.Resource(r.Address)
	switch {
	case cr != nil && cr.Build != nil && cr.Build.Kernel != nil:
		ch.Kernel = cr.Build.Kernel.String()
	case r.Verified != nil && r.Verified.Kernel != "":
		ch.Kernel = r.Verified.Kernel
	default:
		for up := range r.BuiltFrom {
			if strings.HasPrefix(up, config.TypeKernel+".") {
				ch.Kernel = up
			}
		}
	}
	if ch.Kernel == "" {
		return fail("its kernel is unknown (not in the configuration nor the state)")
	}
	kr := s.Resource(ch.Kernel)
	if kr == nil {
		return fail("%s is not in the state: apply it first", ch.Kernel)
	}
	var cert *x509.Certificate
	if len(kr.SigningCert) > 0 {
		if cert, err = x509.ParseCertificate(kr.SigningCert); err != nil {
			return fail("%s: recorded signing certificate: %v", ch.Kernel, err)
		}
	} else if kr.Digest != "" {
		// Not in the state (an adopted kernel): the artifact stored next to its image.
		cert, err = executor.FetchCertificate(c.Context, reg, kr.Image, kr.Digest)
		if err != nil {
			return fail("%s has no recorded signing certificate, and none is stored next to its image (declare its signing_cert and rebuild it): %v", ch.Kernel, err)
		}
	} else {
		return fail("%s has no recorded signing certificate (declare its signing_cert and rebuild it)", ch.Kernel)
	}
	platform := ""
	if cr != nil {
		platform = cr.Platform
	}
	rep, err := verify.CheckRef(c.Context, reg, ch.Ref, platform, cert)
	if err != nil {
		return fail("reading %s: %v", ch.Ref, err)
	}
	ch.Modules, ch.TalosCompatibility = rep.Modules, rep.TalosCompatibility
	ch.OK = rep.OK
	// Without the configuration's word, an extension is expected to carry modules.
	if rep.MissingModules(cr != nil && cr.Build != nil && cr.Build.NoModules) {
		ch.OK, ch.Problem = false, verify.NoModulesProblem
	}
	for _, p := range cfg.Resources {
		if p.Profile == nil || !slices.ContainsFunc(p.DependsOn, func(a config.Address) bool { return a.String() == r.Address }) {
			continue
		}
		pc := executor.ProfileCheck{Address: p.Addr.String(), Version: p.Profile.Version, OK: true}
		if rep.TalosCompatibility != "" && p.Profile.Version != "" {
			if err := verify.CheckTalosCompatibility(rep.TalosCompatibility, p.Profile.Version); err != nil {
				pc.OK, pc.Error = false, err.Error()
				ch.OK = false
			}
		}
		ch.Profiles = append(ch.Profiles, pc)
	}
	return ch
}
