# Voxline developer entry points. `make run` and `make test` work on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export VOXLINE_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

.PHONY: run test install lint typecheck pytest postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Set everything up, then serve on http://127.0.0.1:8000 with a demo organization ready.
run: $(STAMP)
	$(BIN)/voxline db upgrade
	$(BIN)/voxline bootstrap --print-curl
	$(BIN)/voxline serve

## Set everything up, then lint, type-check and run the whole suite (SQLite and PostgreSQL).
test: $(STAMP) postgres lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) postgres
	$(BIN)/python -m pytest

## Make sure the local PostgreSQL server the tests use is up.
postgres:
	@scripts/ensure-postgres

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
