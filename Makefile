# scratch-push: `make demo` runs the main job end to end on this machine,
# `make test` runs every test: unit tests, then the integration suite against
# each engine: Debian's Docker 20.10, Docker 29 with the containerd image
# store, and Podman's Docker-compatible service. Both set the machine up
# first with scripts/dev-env (Docker daemon + authenticating local registry;
# `make test` adds Docker 29 and Podman).

ENV_DIR ?= /var/tmp/scratchpush-env
GO ?= go
# What `scratch-push version` says: the git description of this tree.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: build test unit integration integration-docker29 integration-podman demo image lint env env-test fuzz bench bench-link bench-docker29 docs

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/scratch-push ./cmd/scratch-push

env:
	scripts/dev-env

env-test:
	scripts/dev-env --podman --docker29

# The integration suite with Docker 29 (containerd image store), then with
# Podman's service, as the daemon.
DOCKER29_SUITE = DOCKER_HOST=$$SCRATCHPUSH_TEST_DOCKER29_HOST SCRATCHPUSH_TEST_DAEMON=docker-containerd $(GO) test -count=1 -timeout 20m ./integration/
PODMAN_SUITE = DOCKER_HOST=$$SCRATCHPUSH_TEST_PODMAN_HOST SCRATCHPUSH_TEST_DAEMON=podman $(GO) test -count=1 -timeout 20m ./integration/

test: env-test
	set -a && . $(ENV_DIR)/env && set +a && $(GO) test -count=1 -timeout 20m ./... && $(DOCKER29_SUITE) && $(PODMAN_SUITE)

integration-docker29: env-test
	set -a && . $(ENV_DIR)/env && set +a && $(DOCKER29_SUITE)

integration-podman: env-test
	set -a && . $(ENV_DIR)/env && set +a && $(PODMAN_SUITE)

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

integration: env
	set -a && . $(ENV_DIR)/env && set +a && $(GO) test -count=1 -timeout 20m -v ./integration/

demo:
	scripts/demo

# scratch-push's own image for linux/amd64 and linux/arm64, made and pushed
# by scratch-push: to IMAGE, else to the local registry of scripts/dev-env.
image:
	scripts/image

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# docs/flags.md, from the command itself; a unit test fails when it drifts.
docs:
	$(GO) test ./cmd/scratch-push -run '^TestFlagReference$$' -update

# Fuzzing runs here, not in CI; `make test` runs the committed seed corpora.
FUZZTIME ?= 30s
FUZZ_TARGETS = builder:FuzzDockerfile builder:FuzzParseCommand builder:FuzzParsePorts target:FuzzParseTarget auth:FuzzHeaderRoundTrip wercker:FuzzFind

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in ./$$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

# Benchmarks against docker build + docker push on this machine's daemon, and
# crane, to a registry of the bench's own; results go in docs/benchmarks.md
# by hand. Never part of make test. bench runs the generated folders over
# loopback, then bench-link: real programs (oras, dockerd, built static by
# the bench) across two emulated links, with our default run on Docker 29
# as a fifth side. bench-docker29 runs the loopback set on Docker 29.
bench: env-test build
	set -a && . $(ENV_DIR)/env && set +a && $(GO) run ./bench -tool bin/scratch-push
	$(MAKE) bench-link

bench-link: env-test build
	set -a && . $(ENV_DIR)/env && set +a && $(GO) run ./bench -tool bin/scratch-push -workloads oras,dockerd \
		-link 200mbit-20ms,1gbit-2ms -docker29 $$SCRATCHPUSH_TEST_DOCKER29_HOST

bench-docker29: env-test build
	set -a && . $(ENV_DIR)/env && set +a && DOCKER_HOST=$$SCRATCHPUSH_TEST_DOCKER29_HOST $(GO) run ./bench -tool bin/scratch-push
