#!/usr/bin/env bash
# The quickstart demo (`make demo`): the main-branch job of examples/github-actions, end to
# end, on one machine and offline.
#
#   1. installs what is missing: runc, docker-registry, busybox-static (apt-get); buildkitd
#      (`make tools`, from the pinned tools/ module); sovos and modsign (go build)
#   2. starts a local registry (127.0.0.1, port 5000 or the next free one) and a buildkitd
#      that may use it over plain HTTP and run a profile's imager privileged, both under a
#      temporary directory
#   3. pushes the stand-in upstream installer, then runs
#        sovos plan
#        sovos apply -auto-approve -promote
#        sovos plan                          (must print "No changes.")
#        sovos verify
#      and, in a copy of the quickstart with one file changed, the minimal rebuild plan
#      and its PR comment (`sovos show -format=markdown`), not applied: the state keeps
#      matching examples/quickstart; and last
#        sovos output; sovos fetch profile.cm5-hailo10h  (its disk image, mounted read-only)
#   4. stops everything it started and removes its temporary directory (trap EXIT)
#
# Run it as root on Debian with Go (buildkitd's runc worker needs root, and the profile's
# imager makes its disk image on one of the host's loop devices). The registry
# starts empty every time, so every run builds everything once; run it twice and both
# runs end with "No changes.".
#
# Environment: DEMO_PORT (first port to try, default 5000), DEMO_KEEP=1 (keep the
# temporary directory, logs included), DEMO_SHELL=1 (end in a shell that can use the
# registry and daemon, e.g. for the README's tour), GO (the go command).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
qs=examples/quickstart
GO=${GO:-go}

if [ -t 1 ]; then
  say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  say() { printf '\n==> %s\n' "$*"; }
fi
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
# run prints a command the way a user would type it, then runs it.
run() { printf '\n$ %s\n' "$*"; "$@"; }

# runc lives in /usr/sbin, which a user's PATH kept through `sudo env PATH=...` lacks.
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
[ "$(id -u)" -eq 0 ] || die "run me as root (sudo make demo): buildkitd's runc worker needs root"
command -v "$GO" >/dev/null ||
  die "Go is needed (https://go.dev/dl/) and is not in root's PATH; with sudo keep yours: sudo env \"PATH=\$PATH\" make demo (or set GO=/path/to/go)"
cd "$repo"

# --- 1. what the demo needs -----------------------------------------------------------
need=()
command -v runc >/dev/null || need+=(runc)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
# Debian's plain "busybox" is dynamically linked and cannot run in a FROM scratch image.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  say "Installing ${need[*]}"
  command -v apt-get >/dev/null || die "please install ${need[*]} (no apt-get here)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

say "Building buildkitd (make tools; the first time takes a few minutes), sovos and modsign"
make --no-print-directory tools GO="$GO"
mkdir -p bin
CGO_ENABLED=0 "$GO" build -trimpath -o bin/sovos ./cmd/sovos
# -trimpath: the binary, and so the kernel source's hash, is the same in every clone.
CGO_ENABLED=0 "$GO" build -trimpath -o bin/modsign ./internal/modsign
sovos=$repo/bin/sovos
buildkitd=$repo/.tools/bin/buildkitd
buildctl=$repo/.tools/bin/buildctl

# The builds run busybox and modsign in FROM scratch images: they are part of the build
# contexts (and of the sources' hashes), git-ignored.
install -m 0755 bin/modsign "$qs/kernel/modsign"
install -m 0755 /bin/busybox "$qs/kernel/busybox"
install -m 0755 /bin/busybox "$qs/talos/busybox"

# --- 2. a registry and a BuildKit daemon ------------------------------------------------
tmp=$(mktemp -d /tmp/sovos-demo.XXXXXX)
registry_pid=
buildkitd_pid=
cleanup() {
  local rc=$?
  set +e
  if [ -n "$buildkitd_pid" ]; then
    kill -TERM "$buildkitd_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$buildkitd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$buildkitd_pid" 2>/dev/null
    wait "$buildkitd_pid" 2>/dev/null
  fi
  if [ -n "$registry_pid" ]; then
    kill -TERM "$registry_pid" 2>/dev/null
    wait "$registry_pid" 2>/dev/null
  fi
  [ -z "${mounted:-}" ] || umount "$mounted"
  # Anything the daemon left mounted under its root, deepest first.
  awk -v t="$tmp/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
  if [ "$rc" -ne 0 ]; then
    echo "demo: failed; logs: $tmp/registry.log $tmp/buildkitd.log" >&2
    tail -n 20 "$tmp/buildkitd.log" >&2 2>/dev/null
  fi
  if [ "${DEMO_KEEP:-}" = 1 ] || [ "$rc" -ne 0 ]; then
    echo "demo: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${DEMO_PORT:-5000}
while listening "$port"; do
  port=$((port + 1))
  [ "$port" -lt $((${DEMO_PORT:-5000} + 100)) ] || die "no free port from ${DEMO_PORT:-5000}"
done
host=127.0.0.1:$port

say "Starting a registry on $host and a buildkitd (logs in $tmp)"
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/registry
  delete:
    enabled: true
http:
  addr: $host
EOF
/usr/bin/docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!

# sovos reaches the registry over plain HTTP through insecure_registries; the daemon
# pulls from it itself (FROM ${PKG_KERNEL}, the extension's named context), so it needs
# the same in its own configuration.
# Its own trace socket too: the default /run/buildkit/otel-grpc.sock belongs to any other
# buildkitd on this machine.
cat >"$tmp/buildkitd.toml" <<EOF
[otel]
  socketPath = "$tmp/otel-grpc.sock"

[registry."$host"]
  http = true
  insecure = true
EOF
# --allow-insecure-entitlement security.insecure: the profile's imager step, and only
# it, asks to run privileged with the host's devices (it makes a disk image on a loop
# device); builds never ask.
addr=unix://$tmp/buildkitd.sock
"$buildkitd" --root "$tmp/buildkit" --addr "$addr" --oci-worker-snapshotter=native \
  --allow-insecure-entitlement security.insecure \
  --config "$tmp/buildkitd.toml" >"$tmp/buildkitd.log" 2>&1 &
buildkitd_pid=$!

for _ in $(seq 300); do
  if listening "$port" && "$buildctl" --addr "$addr" debug workers >/dev/null 2>&1; then
    break
  fi
  kill -0 "$registry_pid" 2>/dev/null || die "the registry exited: $(tail -n 5 "$tmp/registry.log")"
  kill -0 "$buildkitd_pid" 2>/dev/null || die "buildkitd exited: $(tail -n 5 "$tmp/buildkitd.log")"
  sleep 0.1
done
"$buildctl" --addr "$addr" debug workers >/dev/null || die "buildkitd did not start: $(tail -n 5 "$tmp/buildkitd.log")"

export BUILDKIT_HOST=$addr
export SOVOS_VAR_registry=$host
export SOVOS_VAR_platform=linux/$("$GO" env GOARCH)
export PATH=$repo/bin:$PATH

# --- 3. the main job ----------------------------------------------------------------------
# The stand-in for ghcr.io/siderolabs/installer. Reproducible (fixed timestamps, fixed
# platform), so its digest is the one pinned in main.sovos.hcl on every machine.
say "Pushing the stand-in upstream installer to $host/siderolabs/installer:v1.13.3"
"$buildctl" --addr "$addr" build --progress=quiet \
  --frontend dockerfile.v0 \
  --local context="$qs/upstream" --local dockerfile="$qs/upstream" \
  --opt platform=linux/arm64 --opt build-arg:SOURCE_DATE_EPOCH=0 \
  --output "type=image,name=$host/siderolabs/installer:v1.13.3,push=true,registry.insecure=true,rewrite-timestamp=true" \
  --metadata-file "$tmp/upstream.json"
pinned=$(grep -A3 '^image "upstream_installer"' "$qs/main.sovos.hcl" | grep -o 'sha256:[0-9a-f]*')
grep -q "\"containerimage.digest\": *\"$pinned\"" "$tmp/upstream.json" ||
  die "the stand-in upstream installer's digest is not the one pinned in $qs/main.sovos.hcl ($pinned): $(cat "$tmp/upstream.json")"

say "The plan for an empty registry: everything is created"
run sovos -chdir=$qs plan

say "The main job: build, push, verify, record, and move the stable tags"
run sovos -chdir=$qs apply -auto-approve -promote

say "Planning again: nothing to do"
out=$(sovos -chdir=$qs plan -detailed-exitcode) && rc=0 || rc=$?
printf '\n$ sovos -chdir=%s plan\n%s\n' "$qs" "$out"
[ "$rc" -eq 0 ] && grep -q "No changes." <<<"$out" || die "the second plan is not empty (exit $rc)"

say "Every module in every extension is signed by its kernel's key"
run sovos -chdir=$qs verify

say "One file changed (extension/manifest.yaml, in a copy of the quickstart): the minimal rebuild"
mkdir -p "$tmp/change/quickstart"
cp -a "$qs/." "$tmp/change/quickstart/"
rm -rf "$tmp/change/quickstart/.sovos" "$tmp/change/quickstart/_out"
sed -i 's/^  author: quickstart$/  author: quickstart (changed)/' "$tmp/change/quickstart/extension/manifest.yaml"
cd "$tmp/change"
run sovos -chdir=quickstart plan -out=change.plan
say "The same plan as a PR comment"
run sovos -chdir=quickstart show -format=markdown change.plan
cd "$repo"

say "The cm5 board's boot media: an OCI artifact at the profile's image (oras pull reads it too)"
run sovos -chdir=$qs output
run sovos -chdir=$qs fetch profile.cm5-hailo10h -o "$tmp/cm5"
# A real filesystem image: decompressed, mounted read-only on a loop device of this host
# (released by umount), and the profile the imager read on its standard input read back.
gunzip "$tmp/cm5/metal-arm64.raw.gz"
mkdir "$tmp/cm5/mnt"
printf '\n$ mount -o ro,loop %s %s\n' "$tmp/cm5/metal-arm64.raw" "$tmp/cm5/mnt"
mount -o ro,loop -t ext2 "$tmp/cm5/metal-arm64.raw" "$tmp/cm5/mnt"
mounted=$tmp/cm5/mnt
ls -l "$tmp/cm5/metal-arm64.raw" "$tmp/cm5/mnt"
printf '\n$ cat %s\n' "$tmp/cm5/mnt/profile.yaml"
cat "$tmp/cm5/mnt/profile.yaml"
cmp "$tmp/cm5/mnt/profile.yaml" "$qs/_out/profiles/profile.cm5-hailo10h.yaml" ||
  die "the disk image holds another profile than the one sovos rendered"
umount "$tmp/cm5/mnt"
mounted=

say "Done: plan, apply -promote, a second plan with no changes, and the cm5 board's disk image"

# DEMO_SHELL=1: a shell with BUILDKIT_HOST, SOVOS_VAR_registry and PATH set, to try the
# README's commands against the same registry and daemon; leaving it stops them.
if [ "${DEMO_SHELL:-}" = 1 ]; then
  say "A shell with the registry ($host) and buildkitd running; exit to stop them"
  PS1='(sovos demo) \w\$ ' bash --norc -i || true
fi
