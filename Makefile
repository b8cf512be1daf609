# One entry point for developers, CI and users. Every target prepares what it
# needs by itself: the tooling virtualenv (.venv), the Docker engine, the images.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
S ?= default

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv lint unit sanity molecule molecule-all installed-collection image docker test demo demo-down bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found: install Python 3.11+ with venv" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "make: '$(PYTHON) -m venv' failed: install python3-venv" >&2; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(STAMP) ## Create the tooling virtualenv (.venv)

lint: $(STAMP) ## Fast checks: yamllint, ansible-lint (production profile), ruff, shellcheck, changelog fragments
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint -q
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/shellcheck roles/*/files/*.sh scripts/*.sh .ci/run
	$(BIN)/antsibull-changelog lint

unit: $(STAMP) ## Unit tests (module and example app)
	$(BIN)/pytest -q tests/unit

sanity: $(STAMP) ## ansible-test sanity from an ansible_collections/pyops/fastapi copy
	scripts/sanity.sh

docker: ## Make sure a Docker engine answers (installs and starts one on Debian as root)
	@scripts/ensure-docker.sh

image: docker ## Build the systemd test images (debian12, debian13) unless up to date
	scripts/build-image.sh debian12 debian13

molecule: $(STAMP) docker ## Run one Molecule scenario: make molecule S=<scenario> [PYOPS_DISTRO=debian13]
	scripts/build-image.sh $${PYOPS_DISTRO:-debian12}
	scripts/molecule-test.sh $(S)

installed-collection: $(STAMP) ## Build the tarball and install it into .cache/installed
	rm -rf .cache/build .cache/installed
	$(BIN)/ansible-galaxy collection build --output-path .cache/build .
	@# --no-deps: the runtime dependencies come with the ansible package (no Galaxy server in CI).
	@# Only the target path is visible, or the checkout's copy counts as "already installed".
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.cache/installed $(BIN)/ansible-galaxy collection install \
	  --no-deps -p .cache/installed .cache/build/pyops-fastapi-*.tar.gz
	test -f .cache/installed/ansible_collections/pyops/fastapi/MANIFEST.json

# The full stack runs on Debian 12 from the checkout and on Debian 13 from the
# collection installed out of the built tarball (as users get it); deploy (every change and
# failure under load, a second app) and certbot on Debian 12; the cluster (a load balancer with a
# Pebble certificate, two app servers, rolling deploys) on Debian 13 from the tarball, which also
# keeps certificate issuance by ACME tested on Debian 13. The Debian 13 pass of default skips the
# fresh-host check mode and the idempotence step (PYOPS_DEFAULT_*=syntax, a no-op): the suite's time.
molecule-all: $(STAMP) image installed-collection ## Every scenario (default on Debian 12 and 13; deploy, certbot on 12; cluster, container on 13)
	PYOPS_DISTRO=debian12 scripts/molecule-test.sh default
	PYOPS_DISTRO=debian13 PYOPS_INSTALLED_COLLECTIONS=$(CURDIR)/.cache/installed PYOPS_SKIP_DISTRO_INDEPENDENT=1 \
	  PYOPS_DEFAULT_FRESH_CHECK=syntax PYOPS_DEFAULT_IDEMPOTENCE=syntax scripts/molecule-test.sh default
	PYOPS_DISTRO=debian12 scripts/molecule-test.sh deploy
	PYOPS_DISTRO=debian12 scripts/molecule-test.sh certbot
	PYOPS_DISTRO=debian13 PYOPS_INSTALLED_COLLECTIONS=$(CURDIR)/.cache/installed scripts/molecule-test.sh cluster
	PYOPS_DISTRO=debian13 PYOPS_INSTALLED_COLLECTIONS=$(CURDIR)/.cache/installed scripts/molecule-test.sh container

# The images are built (debootstrap: network and disk, little CPU) while lint, unit and sanity
# (CPU) run, side by side: each is mostly one process, and the machines have two cores. Their
# outputs stay whole (--output-sync). The scenarios wait for all of it.
test: $(STAMP) docker ## The whole suite, as CI runs it
	@mkdir -p .cache
	@scripts/build-image.sh debian12 debian13 >.cache/image-build.log 2>&1 & images=$$!; \
	  checks=0; $(MAKE) --no-print-directory -j3 --output-sync=target lint unit sanity || checks=$$?; \
	  wait $$images || { echo "make test: the image build failed:"; tail -n 20 .cache/image-build.log; exit 1; }; \
	  cat .cache/image-build.log; [ $$checks -eq 0 ]
	$(MAKE) --no-print-directory molecule-all

bench: $(STAMP) docker ## Benchmarks: the stack vs its ceilings, the gate's lag, deploy times vs 0.5.0 (benchmarks/README.md)
	$(BIN)/python benchmarks/stack_bench.py
	$(BIN)/python benchmarks/health_check_lag.py
	$(BIN)/python benchmarks/deploy_bench.py
	$(BIN)/python benchmarks/fleet_bench.py
	$(BIN)/python benchmarks/container_bench.py

clean: ## Remove the virtualenv and caches (not the Docker images)
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/output build *.tar.gz

demo: $(STAMP) ## Deploy the demo stack into a local container: https://localhost:8443/docs
	scripts/demo.sh up

demo-down: ## Remove the demo container
	scripts/demo.sh down
