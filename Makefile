# Two commands work on a fresh machine with only Python 3.11 and make:
#   make demo   creates .venv, installs the package, runs the end-to-end demo on the sandbox
#   make test   installs the [dev] extra, runs ruff, mypy --strict and pytest; the PostgreSQL
#               tests also need the server binaries (see the postgres target)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench bench-more lint clean browser postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.base: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.base

demo: $(VENV)/.base
	$(BIN)/python -m kasha_async.demo

lint: $(VENV)/.dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# Headless Chromium for tests/browser: Debian's chromium and chromium-driver, installed with
# apt-get when we are root and it is there (only if /usr/bin/chromedriver is missing); anywhere
# else the browser tests fail naming the two packages. Nothing is downloaded at test time.
CHROMEDRIVER := /usr/bin/chromedriver
BROWSER_PACKAGES := chromium chromium-driver

browser:
	@if [ -x $(CHROMEDRIVER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	else \
		echo "make browser: cannot install $(BROWSER_PACKAGES) (needs root and apt-get); install them yourself" >&2; \
	fi

# The PostgreSQL server binaries (initdb, pg_ctl) for tests/batch_pg: found in
# /usr/lib/postgresql/*/bin or on PATH; installed with apt-get (Debian package
# postgresql) when missing and we are root; otherwise a note, and those tests fail
# naming the package (they are never skipped).
postgres:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing the PostgreSQL server (Debian package postgresql) for tests/batch_pg"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else \
		echo "Note: the PostgreSQL tests need the server binaries: sudo apt-get install postgresql"; \
	fi

test: lint browser postgres
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report --skip-covered --sort=cover

bench: $(VENV)/.base
	$(BIN)/python -m benchmarks.run

# The sandbox's throughput, the batch journal's cost and memory, and 1/2/4 PostgreSQL workers.
bench-more: $(VENV)/.dev
	$(BIN)/python -m benchmarks.sandbox_throughput
	$(BIN)/python -m benchmarks.batch_bench
	$(BIN)/python -m benchmarks.batch_memory
	$(BIN)/python -m benchmarks.workers_bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage
