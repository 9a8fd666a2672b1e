# The commands the README gives. Each installs what is missing first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run call test test-fast bench deps venv lint clean-var asterisk-cache cluster cluster-down

run: deps  ## start Asterisk and the service with the demo data (Ctrl-C stops both)
	$(VENV)/bin/hotline run

call: venv  ## place a demo call into the running hotline
	$(VENV)/bin/hotline call

# parallel workers (pytest-xdist): each has its own Asterisk instance and ports (an e2e slot,
# tests/support/slots.py); the e2e tests mostly wait on real-time audio, so 2 workers halve the wall time on 2 cores without starving the audio
TEST_WORKERS ?= 2

cluster: deps  ## Kamailio, a shared PostgreSQL and three nodes in network namespaces (as root; docs/cluster.md)
	$(VENV)/bin/hotline cluster up

cluster-down: venv  ## stop everything `make cluster` started and remove its network
	$(VENV)/bin/hotline cluster down

test: deps  ## the whole suite, real Asterisk included
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile tests

test-fast: venv  ## unit and component tests only (no Asterisk)
	$(PY) -m pytest -p no:cacheprovider -m "unit or component" tests

bench: deps  ## benchmarks against the real Asterisk; writes var/bench/results.json
	$(PY) -m tests.bench

deps: venv
	@scripts/install-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,piper,whisper]"
	@touch $(STAMP)

lint: venv  ## ruff, and the layering contracts (import-linter, in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

asterisk-cache: venv  ## build or restore the cached Asterisk root
	$(VENV)/bin/hotline asterisk provision
