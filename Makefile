# mlops-operator — the commands. `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/bin:$(PATH)
# make demo: local (this machine's cluster), current (the kubeconfig's context) or kind
CLUSTER ?= local

.PHONY: help venv packages tools crds install-manifests lint test test-unit test-integration test-e2e bench run demo control-plane image cluster-up cluster-down clean

help:
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## create .venv with the package and dev tools

packages: ## install the Debian packages the tests and the local cluster need (root, idempotent)
	bash hack/install-packages.sh

tools: ## build the pinned Kubernetes components, etcd, helm, kubeconform into bin/ (cached)
	bash hack/build-tools.sh

crds: venv ## regenerate crds/ from the API models, and their copies in the chart and manifests/install
	$(VENV)/bin/mlops-operator crds --output-dir crds
	bash hack/sync-chart-crds.sh

install-manifests: venv tools ## regenerate manifests/install (kubectl apply -k) from the Helm chart
	$(PY) hack/render-install.py

lint: venv ## ruff, mypy and the layer contracts
	$(VENV)/bin/ruff check operator tests bench hack
	$(VENV)/bin/ruff format --check operator tests bench hack
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test-unit: venv ## unit tier: seconds, no cluster
	$(VENV)/bin/pytest tests/unit -q

test-integration: venv tools ## integration tier: a real kube-apiserver, etcd and controller-manager
	$(VENV)/bin/pytest tests/integration -q

test: venv tools ## everything CI runs: lint, unit, integration and e2e tiers
	$(MAKE) lint
	$(VENV)/bin/pytest tests/unit tests/integration -q
	$(MAKE) test-e2e

bench: venv tools ## benchmarks printed side by side with their peers
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

test-e2e: venv tools image ## e2e tier on the local cluster (started by the tests when down)
	$(VENV)/bin/pytest tests/e2e -q

image: tools ## build the project image with buildah from a local Debian base; import it into containerd
	bash hack/build-image.sh

cluster-up: tools ## start the local single-node cluster (idempotent); prints its KUBECONFIG
	bash hack/cluster-up.sh

cluster-down: ## stop the local cluster and remove what it started
	bash hack/cluster-down.sh

control-plane: venv tools ## start a local control plane and print its KUBECONFIG (Ctrl-C stops it)
	$(PY) -m tests.support.control_plane up

run: venv ## run the operator against the current kubeconfig
	$(VENV)/bin/mlops-operator run

demo: venv tools ## the main job: the iris pipeline end to end on a real cluster (CLUSTER=local|current|kind)
	CLUSTER=$(CLUSTER) bash hack/demo.sh

clean:
	rm -rf .tmp .pytest_cache .mypy_cache .ruff_cache
