# Developer and CI entry points. `make test` is the command the README and .ci/run use.

GO        ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin
BUILDKITD := $(TOOLS_BIN)/buildkitd
COSIGN_VERSION := v3.1.3
COSIGN    := $(TOOLS_BIN)/.cosign-$(COSIGN_VERSION)

.PHONY: all build tools test fuzz lint bench demo

all: build

# Static, as the tests build it (internal/testenv): no dynamic loader at start, which
# saves about half a millisecond of every command (issue 10's plan budget).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/sovos ./cmd/sovos

# buildkitd and buildctl come from the pinned tools/ module (go get -tool); plain
# `go install pkg@version` cannot build BuildKit because of its exclude directives.
# The binaries are rebuilt only when the pins in tools/go.mod or tools/go.sum change.
# Static (CGO_ENABLED=0): dockerfile-frontend runs inside a FROM scratch test image
# as a gateway.v0 frontend.
tools: $(BUILDKITD) $(COSIGN)

$(BUILDKITD): tools/go.mod tools/go.sum
	cd tools && CGO_ENABLED=0 GOBIN=$(TOOLS_BIN) $(GO) install tool
	touch $@

# The cosign v3 CLI, the independent verifier the attestation tests check sovos's
# signatures with (internal/e2e, attest). Plain `go install` from the module proxy
# works for it; it takes about 2.5 minutes, once per version (the stamp names it).
$(COSIGN):
	CGO_ENABLED=0 GOBIN=$(TOOLS_BIN) $(GO) install github.com/sigstore/cosign/v3/cmd/cosign@$(COSIGN_VERSION)
	touch $@

# End-to-end tests start their own buildkitd (as root) and registry; they find the
# daemon through SOVOS_BUILDKITD. Then every fuzz target runs for a few seconds (about
# 40 s in all), so CI keeps them working.
test: tools
	SOVOS_BUILDKITD=$(BUILDKITD) $(GO) test -timeout 40m ./...
	GO=$(GO) ./scripts/fuzz.sh

# Every fuzz target for FUZZTIME (e.g. make fuzz FUZZTIME=1m), or a few seconds each.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: tools
	SOVOS_BUILDKITD=$(BUILDKITD) $(GO) test -run '^$$' -bench . -timeout 40m ./...

# The quickstart end to end, as root on Debian with Go: installs what is missing, starts a
# local registry and buildkitd, runs plan, apply -promote, plan ("No changes."), verify,
# then stops what it started. See examples/quickstart/demo.sh.
demo:
	GO=$(GO) ./examples/quickstart/demo.sh
