# scratch-push: `make demo` runs the main job end to end on this machine,
# `make test` runs every test: unit tests, then the integration suite against
# Docker and again against Podman's Docker-compatible service. Both set the
# machine up first with scripts/dev-env (Docker daemon + authenticating local
# registry; `make test` adds Podman).

ENV_DIR ?= /var/tmp/scratchpush-env
GO ?= go
# What `scratch-push version` says: the git description of this tree.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: build test unit integration integration-podman demo lint env env-test fuzz bench

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/scratch-push ./cmd/scratch-push

env:
	scripts/dev-env

env-test:
	scripts/dev-env --podman

# The integration suite with Podman's service as the daemon.
PODMAN_SUITE = DOCKER_HOST=$$SCRATCHPUSH_TEST_PODMAN_HOST SCRATCHPUSH_TEST_DAEMON=podman $(GO) test -count=1 -timeout 20m ./integration/

test: env-test
	set -a && . $(ENV_DIR)/env && set +a && $(GO) test -count=1 -timeout 20m ./... && $(PODMAN_SUITE)

integration-podman: env-test
	set -a && . $(ENV_DIR)/env && set +a && $(PODMAN_SUITE)

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

integration: env
	set -a && . $(ENV_DIR)/env && set +a && $(GO) test -count=1 -timeout 20m -v ./integration/

demo:
	scripts/demo

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Fuzzing runs here, not in CI; `make test` runs the committed seed corpora.
FUZZTIME ?= 30s
FUZZ_TARGETS = builder:FuzzDockerfile builder:FuzzParseCommand builder:FuzzParsePorts daemon:FuzzParseTarget auth:FuzzHeaderRoundTrip wercker:FuzzFind

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in ./$$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

# Benchmarks against docker build + docker push on this machine's daemon and
# registry; results go in BENCHMARKS.md by hand. Never part of make test.
bench: env build
	set -a && . $(ENV_DIR)/env && set +a && $(GO) run ./bench -tool bin/scratch-push
