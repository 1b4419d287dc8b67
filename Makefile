# circulith: two commands on a fresh machine.
#   make demo   set up, build the demo registry (SQLite) and run the main job
#   make test   set up (with a throwaway PostgreSQL) and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DB     ?= sqlite:///circulith.db
BATTERIES ?= 20000

.PHONY: demo test lint system-deps sanitize clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

NATIVE := hatch_build.py src/circulith/store/_ledger_native.c $(wildcard src/circulith/store/native/*.h)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(NATIVE)
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh --build
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml $(NATIVE)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# Debian packages the test suite needs: a PostgreSQL server (started and thrown away by the tests).
system-deps:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh

demo: $(VENV)/.installed
	$(BIN)/circulith --db $(DB) demo --batteries $(BATTERIES)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks scripts hatch_build.py
	$(BIN)/python -m mypy

# One worker per core; each test file stays on one worker, so module fixtures are built once.
test: system-deps $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest -n auto --dist loadfile

# The compiled ledger code's equivalence tests under AddressSanitizer and UBSan (minutes; not part of test).
sanitize: system-deps $(VENV)/.installed-dev
	$(BIN)/python scripts/sanitize_native.py

clean:
	rm -rf $(VENV) circulith.db .pytest_cache .ruff_cache test-artifacts
