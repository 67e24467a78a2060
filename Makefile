# Two commands: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-sqlite test-postgres lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

## Start the server on the embedded defaults with a demo app; prints its key and a curl line.
run: install
	$(BIN)/headrace quickstart

## The whole suite: lint, types, then tests on SQLite+memory and on PostgreSQL+Redis.
test: install lint test-sqlite test-postgres

test-sqlite: install
	$(BIN)/pytest -q

test-postgres: install
	HEADRACE_TEST_BACKEND=postgres-redis $(BIN)/pytest -q tests/http tests/store tests/coord tests/workflow tests/chatflow

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
