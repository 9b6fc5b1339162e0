# Two commands work on a fresh machine with only Python 3.11 and make:
#   make demo   creates .venv, installs the package, runs the end-to-end demo on the sandbox
#   make test   installs the [dev] extra, runs ruff, mypy --strict and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench bench-more lint clean

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

test: lint
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
