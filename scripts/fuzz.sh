#!/usr/bin/env bash
# Runs every fuzz target of the module for a few seconds, so that CI keeps them alive: a
# target is any `func FuzzXxx(f *testing.F)` in a package of the module, so new ones are
# picked up without editing this file. `make test` runs it after the test suite.
#
#   FUZZTIME=30s scripts/fuzz.sh   # a longer run of each target
#   FUZZ_BUDGET=60 scripts/fuzz.sh # seconds shared by all targets (default 40)
#
# Without FUZZTIME, each target gets FUZZ_BUDGET divided among the targets, between 2 and
# 5 seconds. Minimization is off: it would spend the whole run shrinking one new input.
# A failing input is written under the package's testdata/fuzz/FuzzXxx/ by go test, and
# the script exits 1 naming the target.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
budget=${FUZZ_BUDGET:-40}

# Targets are found in the sources of the module's packages (go list: no compiling, and
# no TestMain run as `go test -list` would), one "DIR NAME" per target.
targets=()
while read -r dir; do
	for f in "$dir"/*_test.go; do
		[[ -e $f ]] || continue
		rel=${dir#"$PWD"}
		while read -r name; do
			targets+=(".$rel $name")
		done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*\*testing\.F\).*/\1/p' "$f")
	done
done < <("$GO" list -f '{{.Dir}}' ./...)

if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz target found" >&2
	exit 1
fi
per=${FUZZTIME:-$(( budget / ${#targets[@]} ))s}
if [[ -z ${FUZZTIME:-} ]]; then
	s=${per%s}
	((s < 2)) && s=2
	((s > 5)) && s=5
	per=${s}s
fi

echo "fuzz: ${#targets[@]} targets, ${per} each"
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "fuzz: $name ($pkg)"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$per" -fuzzminimizetime 0s "$pkg" >"${TMPDIR:-/tmp}/fuzz.$$.log" 2>&1; then
		cat "${TMPDIR:-/tmp}/fuzz.$$.log"
		failed+=("$name ($pkg)")
	fi
done
rm -f "${TMPDIR:-/tmp}/fuzz.$$.log"
if ((${#failed[@]} > 0)); then
	echo "fuzz: FAILED: ${failed[*]}; the failing inputs are under the packages' testdata/fuzz/" >&2
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
