# Everything a newcomer needs goes through these targets; see README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The machine has Node 20, which jsii and the CDK CLI flag as end-of-life with a large banner.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := node_modules/.bin/cdk

.PHONY: setup system-deps synth test lint bench demo opensearch opensearch-stop clean

setup: system-deps $(VENV)/.installed node_modules/.installed

# Debian packages (Maven, Java, nginx, ...): checked on every run, installed only when missing.
system-deps:
	scripts/system-deps

$(VENV)/.installed: requirements.txt requirements-dev.txt lambda_src/requirements.txt pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# compat: the checkout itself goes on the venv's path (a .pth file), so scripts/ can import
	# tests/support without editing sys.path.
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e . \
		--config-settings editable_mode=compat
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: setup
	$(CDK) synth --quiet --no-notices --no-version-reporting
	@echo "Templates written to cdk.out/"

# The pytest fixture starts (and stops) its own node; installing it first keeps the
# download and unpacking out of the test timing. Two workers (pytest-xdist), whole files per
# worker so module fixtures are built once (the documented-command smoke runs spread one by one,
# slowest units first: tests/support/scheduling.py): much of the suite waits on OpenSearch,
# nginx, moto and the CDK CLI, so a second worker fills the idle core. `PYTEST_WORKERS=0` runs
# serially.
PYTEST_WORKERS ?= 2
test: setup
	scripts/opensearch install
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Ingest handler numbers (EC2 calls, OpenSearch requests, time per event, import time) for
# N = 10 ... 10,000 against moto and a real local node, written to docs/results/bench_ingest.json
# (then `scripts/figures.py` puts them into docs/ingest.md); every dashboard panel's query time at
# 100,000 documents (docs/dashboards.md); the report at 100,000 documents (docs/domain.md).
# Subsets: BENCH_ARGS="--sizes 10" BENCH_DASHBOARD_ARGS="--docs 2000" BENCH_REPORT_ARGS="--sizes 2000".
bench: setup
	scripts/opensearch install
	$(PY) scripts/bench_ingest.py $(BENCH_ARGS)
	$(PY) scripts/bench_dashboard.py $(BENCH_DASHBOARD_ARGS)
	$(PY) scripts/bench_report.py $(BENCH_REPORT_ARGS)

lint: setup
	$(VENV)/bin/ruff check . scripts/opensearch
	$(VENV)/bin/ruff format --check . scripts/opensearch

# The whole pipeline locally (moto + the local OpenSearch): `make demo DEMO_ARGS="--events 300"`.
demo: setup
	scripts/opensearch install
	$(VENV)/bin/spot-insights demo $(DEMO_ARGS)

# Disruption runs (docs/chaos.md): the search node killed and paused, moto restarted and the
# handler killed mid-storm; prints a table. `make chaos CHAOS_ARGS=--reduced` is the test's run.
.PHONY: chaos
chaos: setup
	scripts/opensearch install
	$(PY) -m spot_cli.chaos $(CHAOS_ARGS)

# A long-running local node on :9200 for manual use.
opensearch:
	scripts/opensearch up
	@scripts/opensearch env

opensearch-stop:
	scripts/opensearch stop

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache

# Report latency and bytes per document at 100k and 1M documents over a year (5M with
# BENCH_REPORT_ARGS=--with-5m); results JSON under docs/results/. See README "Sizing".
.PHONY: bench-report
bench-report: setup
	scripts/opensearch install
	$(PY) scripts/bench_report.py $(BENCH_REPORT_ARGS)
