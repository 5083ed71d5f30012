# musicexp — `make help` lists the targets. Everything runs from the project's own venv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help setup run run-small test test-slow test-all bench clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP) ## create .venv and install musicexp with its dev extras (once per pyproject change)

run: setup ## install, then run the default pipeline on the embedded dataset `data` (ARGS="..." adds overrides)
	$(VENV)/bin/musicexp $(ARGS)

run-small: setup ## the same on the 100-piece subset `data_100`
	$(VENV)/bin/musicexp dataset=data_100 $(ARGS)

test: setup ## the quick test suite (no slow end-to-end runs)
	$(PY) -m pytest -m "not slow" -q

test-slow: setup ## only the slow end-to-end tests (real runs on the embedded dataset)
	$(PY) -m pytest -m slow -q

test-all: setup ## every test
	$(PY) -m pytest -q

bench: setup ## benchmarks: prints a table, writes benchmarks/results.json
	$(PY) benchmarks/bench.py

clean: ## remove run outputs, artifacts and results (keeps data/ and .venv)
	rm -rf outputs multirun artifacts results
