package operation_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/planner"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// e2eConfig is a kernel whose build signs a module with its own ephemeral key, an
// extension repackaging that module by digest, and two profiles that are rendered only:
// cm5 uses the extension, cm4 does not.
const e2eConfig = `
variable "registry" { type = string }
variable "buildkit" { type = string }
variable "busybox" { type = string }
variable "busybox_digest" { type = string }
variable "talos" {
  type    = string
  default = "v1.13.3"
}

sovos {
  insecure_registries = [split("/", var.registry)[0]]
}

builder "local" { address = var.buildkit }

source "kernel" { path = "./kernel" }
source "ext" { path = "./ext" }

image "busybox" {
  ref    = var.busybox
  digest = var.busybox_digest
}

kernel "k" {
  source = source.kernel
  target = "kernel"
  image  = "${var.registry}/kernel"
  args   = { BUSYBOX = image.busybox.ref }
  stage "modules" { image = "${var.registry}/modules" }
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }
  tags = ["stable"]
}

extension "e" {
  source   = source.ext
  kernel   = kernel.k
  image    = "${var.registry}/ext"
  contexts = { modules = kernel.k.stage["modules"].ref }
  tags     = ["stable"]
}

profile "cm5" {
  arch       = "arm64"
  platform   = "metal"
  version    = var.talos
  installer  = image.busybox.ref
  extensions = [extension.e.ref]
  output { kind = "installer" }
}

profile "cm4" {
  arch      = "arm64"
  platform  = "metal"
  version   = "v1.11.0"
  installer = image.busybox.ref
  output { kind = "installer" }
}
`

// TestApplyVerifyE2E applies through a real BuildKit daemon and registry, then checks
// that apply and verify give one verdict (executor.CheckExtension): the profiles that
// use the extension are the ones that consume it, so cm4's older Talos version never
// counts, and cm5's does for both once it is moved below the extension's range.
func TestApplyVerifyE2E(t *testing.T) {
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	busybox := testenv.BusyboxBase(t, host)
	ref, dgst, _ := strings.Cut(busybox, "@")

	dir := t.TempDir()
	factory := filepath.Join("..", "executor", "testdata", "factory")
	testenv.CopyTree(t, filepath.Join(factory, "kernel"), filepath.Join(dir, "kernel"))
	testenv.CopyTree(t, filepath.Join(factory, "ext"), filepath.Join(dir, "ext"))
	testenv.CopyFile(t, testenv.Modsign(t), filepath.Join(dir, "kernel", "modsign"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "main.sovos.hcl"), []byte(e2eConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	in := operation.Inputs{Dir: dir, Environ: []string{}, Vars: []config.VarArg{
		{Value: "registry=" + host + "/op"}, {Value: "buildkit=" + bk.Addr},
		{Value: "busybox=" + ref}, {Value: "busybox_digest=" + dgst},
	}}

	res, err := operation.Apply(ctx, operation.ApplyRequest{Inputs: in, PlanOptions: operation.PlanOptions{Refresh: true, Promote: true}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Count(executor.Built) != 2 || res.Summary.Count(executor.Rendered) != 2 || len(res.Summary.Promoted) != 2 {
		t.Fatalf("apply: %+v, promoted %v", res.Summary.Resources, res.Summary.Promoted)
	}

	v, err := operation.Verify(ctx, operation.VerifyRequest{Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK || len(v.Checks) != 1 || v.Checks[0].Kernel != "kernel.k" || len(v.Checks[0].Modules) != 1 ||
		len(v.Checks[0].Profiles) != 1 || v.Checks[0].Profiles[0].Address != "profile.cm5" {
		t.Fatalf("verify: %+v", v.Checks[0])
	}

	// Nothing changed: the next plan has nothing to do.
	pr, err := operation.Plan(ctx, operation.PlanRequest{Inputs: in, PlanOptions: operation.PlanOptions{Refresh: true}})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Plan.HasChanges() {
		t.Errorf("plan after apply: %v", changes(pr.Plan))
	}

	// cm5 now asks for a Talos the extension does not admit: verify fails naming it, and
	// an apply that checks the extension again fails with the same reason.
	in.Vars = append(in.Vars, config.VarArg{Value: "talos=v1.12.0"})
	v, err = operation.Verify(ctx, operation.VerifyRequest{Inputs: in, Addresses: []string{"extension.e"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.OK || len(v.Checks[0].Profiles) != 1 || v.Checks[0].Profiles[0].OK || v.Checks[0].Profiles[0].Address != "profile.cm5" {
		t.Errorf("verify with an incompatible profile: %+v", v.Checks[0])
	}
	res, err = operation.Apply(ctx, operation.ApplyRequest{Inputs: in,
		PlanOptions: operation.PlanOptions{Refresh: true, Replace: []string{"extension.e"}}})
	if err == nil || !strings.Contains(err.Error(), `does not admit profile.cm5 (version v1.12.0)`) || strings.Contains(err.Error(), "profile.cm4") {
		t.Errorf("apply with an incompatible profile: %v", err)
	}
	if res == nil || changes(res.Plan)["extension.e"] != planner.ActionRebuild {
		t.Errorf("the apply's plan: %+v", res)
	}
}
