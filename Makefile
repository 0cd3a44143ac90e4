# The README's two commands are `make demo` and `make test`; each does all set-up itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= python3.11
VENV       := .venv
PY         := $(VENV)/bin/python
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
BUF_VERSION := 1.75.0
BUF        := .tools/node_modules/.bin/buf
PROTOS     := $(wildcard protos/briefing/v1/*.proto)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install proto lint test demo run seed ingest bench eval eval-briefings token dev-ca clean image image-base image-smoke deploy-check compose-pki

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# torch goes in first and alone, as the CPU build for this platform (scripts/torch_install.py
# picks the source: PyTorch's CPU index on Linux, PyPI on macOS); the last step checks that no
# other build (CUDA, ROCm, another version) replaced it.
$(STAMP): pyproject.toml scripts/torch_install.py
	@command -v $(PYTHON_SYS) >/dev/null || { echo "need $(PYTHON_SYS) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(PY) -m scripts.torch_install install
	$(BIN)/pip install -q -e '.[dev]'
	$(PY) -m scripts.torch_install check
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install everything (once; again when pyproject.toml changes).

proto: $(STAMP)  ## Regenerate gen/briefing from protos/ (commit the result).
	rm -rf gen/briefing && mkdir -p gen
	PATH=$(abspath $(BIN)):$$PATH $(PY) -m grpc_tools.protoc -Iprotos --python_out=gen \
	  --pyi_out=gen --grpc_python_out=gen --mypy_grpc_out=gen $(PROTOS) >/dev/null
	touch gen/briefing/__init__.py gen/briefing/v1/__init__.py

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

lint: $(STAMP) $(BUF)  ## ruff, mypy and buf lint.
	$(BIN)/ruff check services tests bench scripts eval
	$(BIN)/ruff format --check services tests bench scripts eval
	$(BIN)/mypy services tests bench scripts eval
	cd protos && ../$(BUF) lint

# Two workers (pytest-xdist), one test file per worker at a time: each file's module-scoped
# stacks stay in one process. TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2
test: $(STAMP) lint  ## Lint, then run the whole test suite (TEST_WORKERS=0 for one process).
	$(PY) -m scripts.kustomize_install
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

run: $(STAMP)  ## Start the three services together (Ctrl-C stops them).
	$(PY) -m services.launcher --base-port 50051

seed: $(STAMP)  ## Load the FHIR bundles in data/patients into PostgreSQL.
	$(PY) -m services.orchestrator.patients.seed data/patients

ingest: $(STAMP)  ## Ingest data/guidelines (starts the services unless RETRIEVER_ADDR is set).
	$(PY) -m services.retriever.ingest data/guidelines

demo: $(STAMP) seed  ## Set up everything and print a real briefing for a demo patient.
	$(PY) -m services.demo

bench: $(STAMP)  ## Benchmarks (BENCH=store_scale for one; STORE_SCALE_SIZES=10000,100000 for fewer points); JSON and PNG in bench/results/.
	$(PY) -m bench $(BENCH)

eval: $(STAMP)  ## Retrieval and briefing evaluations; JSON and PNG in bench/results/.
	$(PY) -m eval

eval-briefings: $(STAMP)  ## Brief every synthetic patient and score it; JSON and PNG in bench/results/.
	$(PY) -m eval.briefings

image:  ## Build the container image (podman or docker; deploy/container/README.md).
	deploy/container/build.sh $(IMAGE)

image-base:  ## Make a local Python base image from Debian packages (no registry needed).
	deploy/container/make-base-image.sh

image-smoke: $(STAMP)  ## Start the services from the built image on loopback (buildah, TLS and auth), brief a patient.
	PYTHON=$(PY) deploy/container/smoke.sh $(IMAGE)

compose-pki: $(STAMP)  ## What docker-compose.yml mounts from var/: dev CA, token key, ingest token.
	PYTHON=$(PY) deploy/compose/make-pki.sh

# compose-pki first: docker-compose config reads the ingest job's env_file, which it writes.
deploy-check: compose-pki  ## Validate docker-compose.yml and the Kubernetes overlays offline.
	docker-compose -f docker-compose.yml config --quiet
	$(PY) -m scripts.kustomize_install
	$(BIN)/pytest -q tests/deploy

token: $(STAMP)  ## Print a development bearer token (SCOPES="briefing:read ..."; default all).
	@$(PY) -m scripts.dev_token $(if $(SCOPES),--scopes "$(SCOPES)")

dev-ca: $(STAMP)  ## A development CA and certificates for each service under var/dev-ca/.
	$(PY) -m scripts.dev_ca

clean:  ## Remove the virtualenv, tools and runtime data.
	rm -rf $(VENV) .tools var .pytest_cache .mypy_cache .ruff_cache
